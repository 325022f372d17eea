#!/usr/bin/env bash
# Runs the cuda build of esa — package gpu's device tests and esa-gpu itself —
# on the CPU emulator of the CUDA driver (gpu/emu), on a machine without a
# GPU. It checks the Go code that drives the device and the kernels' logic
# against the CPU backend; it cannot check PTX compilation, timing or
# memory-model effects, nor the real cuBLAS (gpu/emu/README.md). scripts/test.sh runs it when
# cuda.h (scripts/install-cuda-headers.sh) and clang++-14 are present.
#
#   scripts/gpu-emu.sh            all stages (about 5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
prefix=${ESA_CUDA_PREFIX:-/opt/esa-cuda}
export CGO_CFLAGS="-I$prefix/include" CGO_LDFLAGS="-L$prefix/lib"
root=$PWD
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

echo "-- building the emulator, gpu.test and esa-gpu (-tags cuda)"
CUDA_INCLUDE="$prefix/include" bash gpu/emu/build.sh "$dir/lib"
go test -c -tags cuda -o "$dir/gpu.test" ./gpu
go test -c -tags cuda -o "$dir/esa.test" ./stdlib/esa
go test -c -tags cuda -o "$dir/model.test" ./stdlib/model
go build -tags cuda -o "$dir/esa-gpu" ./cmd/esa
go build -o "$dir/esa-cpu" ./cmd/esa
# The emulated driver and cuBLAS instead of libcuda.so.1 and libcublas.so.12.
export LD_LIBRARY_PATH="$dir/lib"

echo "-- esa-gpu doctor"
"$dir/esa-gpu" doctor | grep -E '^(cuda|backend|GEMM)'

tests='TestOps|TestStories|TestKernel|TestRadix|TestChecksum|TestOrderKey'
echo "-- package gpu on the emulated device: $tests"
(cd gpu && "$dir/gpu.test" -test.count=1 -test.timeout 20m -test.run "$tests")

# Threads run between barriers in launch order; reversed, a kernel whose
# result depends on that order (a missing __syncthreads, a racy write)
# gives other numbers and fails the comparison with the CPU.
# Also with the built-in GEMM kernel instead of cuBLAS (its fallback).
echo "-- again with blocks and threads in reverse order (ESA_EMU_ORDER=reverse), built-in GEMM (ESA_CUBLAS=none)"
(cd gpu && ESA_EMU_ORDER=reverse ESA_CUBLAS=none "$dir/gpu.test" -test.count=1 -test.timeout 20m \
  -test.run 'TestOps|TestStoriesMatchesCPU|TestStoriesPerturbOnDevice')

echo "-- gradients accumulated on the emulated device (stdlib/model resident mode)"
(cd stdlib/model && "$dir/model.test" -test.count=1 -test.timeout 10m -test.run 'CUDA' -test.v | grep -E '^(---|ok|PASS|FAIL)')

echo "-- ESA runs on the emulated device (stdlib/esa: runs and notebook API against the CPU)"
(cd stdlib/esa && "$dir/esa.test" -test.count=1 -test.timeout 20m -test.run 'CUDA|InSync' -test.v | grep -E '^(---|ok|PASS|FAIL)')

# A runbook line through the cuda binary with --device auto (the emulated
# GPU) against the default build on the CPU: the same top-k weights, the
# same baseline and perturbed perplexities to the printed digits.
echo "-- esa runner: cuda build --device auto vs default build --device cpu"
models=${ESA_TEST_MODELS:-$root/../shared/models}
if [ -d "$models/stories260K-hf" ]; then
  args=(--model "$models/stories260K-hf" --metric grad_x_weight --mode per_layer --topk 10 --max-samples 8
        --max-length 64 --perturb zero --controls random_k --seeds 1)
  "$dir/esa-cpu" runner "${args[@]}" --device cpu --out-dir "$dir/run-cpu" 2>/dev/null >"$dir/cpu.txt"
  "$dir/esa-gpu" runner "${args[@]}" --device auto --out-dir "$dir/run-gpu" 2>/dev/null >"$dir/gpu.txt"
  grep -q '^device     cuda:0' "$dir/gpu.txt" || { cat "$dir/gpu.txt"; echo "the cuda build did not run on cuda:0"; exit 1; }
  cmp <(cut -d, -f1-4 "$dir/run-cpu/top_weights.csv") <(cut -d, -f1-4 "$dir/run-gpu/top_weights.csv") ||
    { echo "top_weights.csv differs between the CPU and the emulated GPU"; exit 1; }
  cmp <(grep -E '^(baseline|  top_k)' "$dir/cpu.txt") <(grep -E '^(baseline|  top_k)' "$dir/gpu.txt") ||
    { grep -E '^(baseline|  top_k)' "$dir/cpu.txt" "$dir/gpu.txt"; echo "perplexities differ"; exit 1; }
  echo "ok: $(wc -l <"$dir/run-gpu/top_weights.csv") lines of top_weights.csv equal; $(grep '^baseline' "$dir/gpu.txt")"
elif [ "${ESA_REQUIRE_TEST_MODELS:-}" = 1 ]; then
  echo "no $models/stories260K-hf"; exit 1
else
  echo "skipped: no $models/stories260K-hf"
fi

echo "-- the cuda build without a device: clear error, no crash"
if out=$(ESA_EMU_DEVICES=0 "$dir/esa-gpu" doctor 2>&1); then
  echo "esa-gpu doctor succeeded with no device: $out"; exit 1
fi
echo "$out" | grep -q NoDevice || { echo "unexpected output without a device: $out"; exit 1; }
echo "ok: $(echo "$out" | head -n1)"
echo "-- the emulated CUDA backend passed"
