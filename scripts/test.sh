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

echo "== go test"
go test -count=1 -timeout 30m ./...

echo "== go test (pure-Go fallbacks of the SIMD kernels)"
go test -count=1 -tags purego ./stdlib/blas/ ./stdlib/backend/

if [ -x kernel/conformance/run.sh ]; then
  echo "== Jupyter conformance"
  kernel/conformance/run.sh
fi
