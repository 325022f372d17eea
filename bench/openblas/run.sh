#!/usr/bin/env bash
# Compares esa/stdlib/blas Sgemm with OpenBLAS cblas_sgemm on the same shapes,
# same thread count, interleaved in one run so both see the same machine load.
#
#   bench/openblas/run.sh [ROUNDS] [THREADS] [SECONDS_PER_SHAPE]   (defaults 3 2 1)
#
# Needs gcc and Debian's libopenblas-dev. For each shape both sides report the
# mean GFLOP/s over about SECONDS_PER_SHAPE of repeated calls and the GFLOP/s of
# the fastest single call; the summary keeps the best round of each and the
# esa/OpenBLAS ratios. A third pair divides by process CPU time instead of wall
# time: at THREADS=1 it is the steadiest comparison on a loaded machine; at
# more threads it also charges OpenBLAS for its spin-waiting, so trust the wall
# columns there. OPENBLAS_CORETYPE is left as the environment sets
# it; the core OpenBLAS picked is printed.
set -euo pipefail
rounds=${1:-3}
threads=${2:-2}
secs=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gcc -O2 -o "$tmp/sgemm_bench" "$here/sgemm_bench.c" -lopenblas
(cd "$root" && go test -c -o "$tmp/blas.test" ./stdlib/blas/)

for r in $(seq "$rounds"); do
	echo "== round $r"
	OPENBLAS_NUM_THREADS=$threads "$tmp/sgemm_bench" "$secs" | tee -a "$tmp/c.txt"
	(cd "$root/stdlib/blas" && "$tmp/blas.test" -test.run '^$' -test.bench 'Sgemm' \
		-test.benchtime "${secs}s" -test.cpu "$threads") | grep GFLOP | tee -a "$tmp/go.txt"
done

echo "== summary: best round, GFLOP/s, $threads threads (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
grep -m1 '^openblas core=' "$tmp/c.txt"
awk '
	FNR == 1 { file++ }
	file == 1 && $1 == "openblas" && $3 == "best" {
		if ($4 + 0 > obBest[$2] + 0) obBest[$2] = $4
		if ($7 + 0 > obMean[$2] + 0) obMean[$2] = $7
		if ($10 + 0 > obCPU[$2] + 0) obCPU[$2] = $10
	}
	file == 2 {
		name = $1
		sub(/^BenchmarkSgemmModel\//, "", name)
		sub(/^BenchmarkSgemm2048/, "2048x2048x2048_NN", name)
		sub(/-[0-9]+$/, "", name)
		for (i = 2; i <= NF; i++) {
			if ($i == "GFLOP/s" && $(i - 1) + 0 > esaMean[name] + 0) esaMean[name] = $(i - 1)
			if ($i == "best-GFLOP/s" && $(i - 1) + 0 > esaBest[name] + 0) esaBest[name] = $(i - 1)
			if ($i == "cpu-GFLOP/s" && $(i - 1) + 0 > esaCPU[name] + 0) esaCPU[name] = $(i - 1)
		}
		if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	}
	function ratio(a, b) { return b > 0 ? a / b : 0 }
	END {
		printf "%-20s | %-22s | %-22s | %-22s\n", "", "mean of calls", "fastest call", "per CPU-second"
		printf "%-20s |%7s %8s %5s |%7s %8s %5s |%7s %8s %5s\n", "shape m x n x k", "esa", "openblas", "ratio",
			"esa", "openblas", "ratio", "esa", "openblas", "ratio"
		for (i = 1; i <= n; i++) {
			s = order[i]
			printf "%-20s |%7.1f %8.1f %5.2f |%7.1f %8.1f %5.2f |%7.1f %8.1f %5.2f\n", s,
				esaMean[s], obMean[s], ratio(esaMean[s], obMean[s]),
				esaBest[s], obBest[s], ratio(esaBest[s], obBest[s]),
				esaCPU[s], obCPU[s], ratio(esaCPU[s], obCPU[s])
		}
	}' "$tmp/c.txt" "$tmp/go.txt"
