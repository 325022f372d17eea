#!/usr/bin/env bash
# Builds the CPU emulator of the CUDA driver: DIR/libcuda.so.1, made of
# driver.cc and the kernels of gpu/kernels compiled as host C++ (-DESA_EMU),
# and DIR/libcublas.so.12, the GEMMs package gpu calls (cublas.cc).
#
#   gpu/emu/build.sh DIR      (needs clang++-14 and cuda.h:
#                              scripts/install-cuda-headers.sh)
#
# A cuda build of esa run with LD_LIBRARY_PATH=DIR uses it instead of a GPU
# (scripts/gpu-emu.sh does that for the tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: gpu/emu/build.sh DIR}
cxx=${CXX_EMU:-clang++-14}
inc=${CUDA_INCLUDE:-/opt/esa-cuda/include}
command -v "$cxx" >/dev/null || { echo "gpu/emu/build.sh: $cxx not found (apt-get install clang-14)" >&2; exit 2; }
[ -f "$inc/cuda.h" ] || { echo "gpu/emu/build.sh: no $inc/cuda.h (scripts/install-cuda-headers.sh)" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(-std=c++17 -O2 -fPIC -fno-exceptions -fno-rtti -Wall -Werror)

objs=()
for src in "$here"/../kernels/*.cu; do
  base=$(basename "$src" .cu)
  {
    echo "#include \"$src\""
    echo "#include \"$here/register.h\""
    grep -oE '^KERNEL +[A-Za-z_0-9]+' "$src" | awk '{print "EMU_REGISTER(" $2 ")"}'
  } >"$tmp/$base.cc"
  "$cxx" "${flags[@]}" -DESA_EMU -c "$tmp/$base.cc" -o "$tmp/$base.o"
  objs+=("$tmp/$base.o")
done

"$cxx" "${flags[@]}" -I"$inc" -c "$here/driver.cc" -o "$tmp/driver.o"

# Every other entry point cuda.h declares answers CUDA_ERROR_NOT_SUPPORTED
# and says so; weak, so that driver.cc's definitions win.
{
  echo 'extern "C" int emu_unsupported(const char *name);'
  "$cxx" -E -P -x c -I"$inc" "$inc/cuda.h" | grep -oE '\bcu[A-Za-z0-9_]+[[:space:]]*\(' |
    sed -E 's/[[:space:]]*\($//' | sort -u |
    awk '{printf "extern \"C\" __attribute__((weak)) int %s(void) { return emu_unsupported(\"%s\"); }\n", $1, $1}'
} >"$tmp/stubs.cc"
"$cxx" "${flags[@]}" -c "$tmp/stubs.cc" -o "$tmp/stubs.o"

"$cxx" -shared -Wl,-soname,libcuda.so.1 -o "$out/libcuda.so.1" "$tmp/driver.o" "$tmp/stubs.o" "${objs[@]}" -lm
ln -sf libcuda.so.1 "$out/libcuda.so"

# The emulated cuBLAS, found by package gpu under its soname like the real one.
"$cxx" "${flags[@]}" -shared -Wl,-soname,libcublas.so.12 -o "$out/libcublas.so.12" "$here/cublas.cc" -L"$out" -lcuda
echo "gpu/emu/build.sh: $out/libcuda.so.1 ($(nm -D --defined-only "$out/libcuda.so.1" | grep -c ' T esa_') kernels), $out/libcublas.so.12"
