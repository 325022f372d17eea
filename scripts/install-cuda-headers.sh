#!/usr/bin/env bash
# Installs what `go vet -tags cuda` and `go build -tags cuda` need on a machine
# without the CUDA toolkit (CI, a laptop): the CUDA driver API header cuda.h,
# and a stub libcuda.so that only satisfies the linker. Nothing else of CUDA is
# needed: gorgonia.org/cu includes only <cuda.h> and links only -lcuda, and
# package gpu loads cuBLAS at run time.
#
#   scripts/install-cuda-headers.sh [PREFIX]      (default /opt/esa-cuda)
#   export CGO_CFLAGS="-I$PREFIX/include" CGO_LDFLAGS="-L$PREFIX/lib"
#   go vet -tags cuda ./gpu/... ./cmd/esa/
#
# cuda.h comes from Debian bookworm's non-free nvidia-cuda-dev 11.8 (the
# header gorgonia.org/cu v0.9.6 is written against), fetched with apt-get
# download (774 MB, about 20 s at 45 MB/s measured 2026-11-27; apt verifies
# it) from the mirror the machine already uses; cuda.h is checked against the
# pinned SHA-256 below.
#
# The stub library exports every cu* function that cuda.h declares, as an
# empty function, with SONAME libcuda.so.1. A binary linked against it records
# "NEEDED libcuda.so.1" and binds to the real driver library at run time on a
# GPU machine. The stub is never installed where the dynamic loader looks, so
# it cannot shadow a real driver; do not copy it there.
set -euo pipefail

prefix=${1:-/opt/esa-cuda}
pkg=nvidia-cuda-dev
ver='11.8.89~11.8.0-5~deb12u1'
sha=55639151a971a10c28d627a98dcd406c6320a5b4e5b67dd9d229056ed5c8e045

if [ -f "$prefix/include/cuda.h" ] && [ -f "$prefix/lib/libcuda.so" ] &&
   echo "$sha  $prefix/include/cuda.h" | sha256sum -c --status; then
  echo "install-cuda-headers: $prefix already holds cuda.h and the stub libcuda.so"
  exit 0
fi

for tool in gcc dpkg-deb tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "install-cuda-headers: $tool is missing" >&2; exit 1; }
done

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Debian's non-free component, for this one package; the file is removed again.
list=/etc/apt/sources.list.d/esa-cuda-headers.sources
had_list=0
[ -f "$list" ] && had_list=1
if ! apt-cache policy "$pkg" 2>/dev/null | grep -q "Candidate: [0-9]"; then
  . /etc/os-release
  # The same Debian mirror the machine already uses, with the non-free component.
  mirror=$(apt-cache policy | awk -v c="${VERSION_CODENAME:-bookworm}/main" '$3 == c {print $2}' | grep -v security | head -n1)
  [ -n "$mirror" ] || { echo "install-cuda-headers: no Debian mirror found in the apt sources" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "${VERSION_CODENAME:-bookworm}" "${VERSION_CODENAME:-bookworm}" | $sudo tee "$list" >/dev/null
  $sudo apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
fi

cd "$tmp"
apt-get download "$pkg=$ver" >/dev/null
dpkg-deb --fsys-tarfile "$pkg"_*.deb 2>/dev/null | tar -x --occurrence=1 ./usr/include/cuda.h || true
[ -f usr/include/cuda.h ] || { echo "install-cuda-headers: cuda.h not found in $pkg" >&2; exit 1; }
echo "$sha  usr/include/cuda.h" | sha256sum -c --status || { echo "install-cuda-headers: cuda.h does not match the pinned SHA-256" >&2; exit 1; }
rm -f "$pkg"_*.deb
[ $had_list = 1 ] || $sudo rm -f "$list"

mkdir -p stub
# Every driver entry point cuda.h declares, after its #define renames (cuMemAlloc → cuMemAlloc_v2).
gcc -E -P -Iusr/include usr/include/cuda.h | grep -oE '\bcu[A-Za-z0-9_]+[[:space:]]*\(' |
  sed -E 's/[[:space:]]*\($//' | sort -u | sed 's/.*/void &(void) {}/' > stub/libcuda.c
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o stub/libcuda.so stub/libcuda.c

$sudo mkdir -p "$prefix/include" "$prefix/lib"
$sudo install -m 644 usr/include/cuda.h "$prefix/include/cuda.h"
$sudo install -m 755 stub/libcuda.so "$prefix/lib/libcuda.so"
echo "install-cuda-headers: installed $prefix/include/cuda.h and the link-time stub $prefix/lib/libcuda.so ($(wc -l <stub/libcuda.c) symbols)"
echo "export CGO_CFLAGS=\"-I$prefix/include\" CGO_LDFLAGS=\"-L$prefix/lib\""
