#!/usr/bin/env bash
# The project's test command: formatting, vet, generated-code freshness, the Go
# test suite, then the Jupyter conformance and notebook checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt needed: $bad"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== generated yaegi symbol tables are fresh"
go generate ./stdlib/symbols/
if ! git diff --quiet -- stdlib/symbols; then
  git diff --stat -- stdlib/symbols
  echo "stale: run 'go generate ./stdlib/symbols/' and commit"; exit 1
fi

if [ -f /opt/esa-cuda/include/cuda.h ]; then
  echo "== go vet -tags cuda (GPU backend, without a GPU)"
  CGO_CFLAGS=-I/opt/esa-cuda/include CGO_LDFLAGS=-L/opt/esa-cuda/lib go vet -tags cuda ./...
else
  echo "== skipping the cuda vet: scripts/install-cuda-headers.sh was not run"
fi

echo "== go test"
go test -count=1 -timeout 30m ./...

echo "== go test (pure-Go fallbacks of the SIMD kernels)"
go test -count=1 -tags purego ./stdlib/blas/ ./stdlib/backend/

if [ -f /opt/esa-cuda/include/cuda.h ] && command -v clang++-14 >/dev/null; then
  echo "== the CUDA backend on the CPU emulator of the driver (gpu/emu)"
  scripts/gpu-emu.sh
elif [ "${ESA_REQUIRE_CUDA_EMU:-}" = 1 ]; then
  echo "ESA_REQUIRE_CUDA_EMU=1 but cuda.h (scripts/install-cuda-headers.sh) or clang++-14 is missing"; exit 1
else
  echo "== skipping the emulated CUDA backend: needs cuda.h (scripts/install-cuda-headers.sh) and clang++-14"
fi

if [ -x kernel/conformance/run.sh ]; then
  echo "== Jupyter conformance"
  kernel/conformance/run.sh
fi

echo "== notebooks under esa run and jupyter nbconvert"
scripts/run-notebooks.sh --out "${ESA_ARTIFACTS:-/tmp/esa-artifacts}/notebooks"

echo "== all checks passed"
