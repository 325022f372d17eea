#!/usr/bin/env bash
# Newcomer's first command: builds esa and executes the quickstart notebook on
# the built-in model (no download, no Jupyter needed), leaving the executed
# notebook and an HTML copy in outputs/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "quickstart: Go 1.26 is needed (expected at /usr/local/go)" >&2; exit 1; }
mkdir -p bin outputs
go build -o bin/esa ./cmd/esa
bin/esa run notebooks/00_quickstart.ipynb -o outputs/00_quickstart.ipynb --html outputs/00_quickstart.html "$@"
echo "executed notebook: outputs/00_quickstart.ipynb (HTML: outputs/00_quickstart.html)"
