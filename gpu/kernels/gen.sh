#!/usr/bin/env bash
# Regenerates the committed PTX from the CUDA C sources in this folder:
#
#   gpu/kernels/gen.sh            (needs clang-14; Debian: apt-get install clang-14)
#   gpu/kernels/gen.sh --check    (exit 1 if a committed .ptx differs)
#
# clang compiles CUDA without the CUDA SDK (-nocudainc -nocudalib; esa.cuh
# declares what is used), so neither nvcc nor a GPU is needed. Target sm_80
# (Ampere) with PTX ISA 7.0: the driver JIT-compiles it for any newer GPU
# (Hopper, Blackwell) when the module loads. The output is deterministic, so
# CI can regenerate and compare.
set -euo pipefail
cd "$(dirname "$0")"
clang=${CLANG:-clang-14}
command -v "$clang" >/dev/null || { echo "gen.sh: $clang not found (apt-get install clang-14)" >&2; exit 2; }
check=0
[ "${1:-}" = --check ] && check=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for src in *.cu; do
  out="${src%.cu}.ptx"
  "$clang" -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib \
    -Xclang -target-feature -Xclang +ptx70 -O3 -std=c++17 -Wall -Werror -S -o "$tmp/$out" "$src"
  if [ $check = 1 ]; then
    if ! cmp -s "$tmp/$out" "$out"; then
      echo "gen.sh: $out is stale: run gpu/kernels/gen.sh" >&2
      status=1
    fi
  else
    cp "$tmp/$out" "$out"
  fi
done
exit $status
