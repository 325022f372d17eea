// Shared definitions of the esa CUDA kernels.
//
// The kernels are compiled by clang in CUDA mode without the CUDA SDK
// (-nocudainc -nocudalib, see gen.sh), so this header declares what the SDK
// headers would: the qualifiers, and wrappers over clang's NVPTX builtins.
// No libdevice is linked, so only operations that lower to single PTX
// instructions are used; every kernel parameter is 8 bytes wide (pointers,
// long long, double) because gorgonia.org/cu's Launch copies 8 bytes per
// parameter (kernels_test.go checks the PTX for it).
#pragma once
#ifdef ESA_EMU
// Host C++ for the CPU emulator of the driver (gpu/emu): the same qualifiers,
// builtin variables and NVPTX builtins, defined over emulated threads.
#include "../emu/emu.h"
#else
#include <__clang_cuda_builtin_vars.h>

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define ESA_INLINE static __device__ __inline__ __attribute__((always_inline))
#define KERNEL extern "C" __global__ void
#endif

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

// Stored dtypes, numbered as esa/stdlib/tensor.DType.
enum { DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2, DT_F64 = 3 };

ESA_INLINE u32 f2u(float f) { return __builtin_bit_cast(u32, f); }
ESA_INLINE float u2f(u32 u) { return __builtin_bit_cast(float, u); }
ESA_INLINE double u2d(u64 u) { return __builtin_bit_cast(double, u); }

// f16_to_f32 widens an IEEE binary16 exactly, as tensor.F16ToF32 does.
ESA_INLINE float f16_to_f32(u16 h) {
  u32 sign = (u32)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return u2f(sign | 0x7f800000u | man << 13);
  if (exp == 0) {
    float f = (float)man * (1.0f / 16777216.0f); // exact: man < 2^10
    return sign ? -f : f;
  }
  return u2f(sign | (exp + 112) << 23 | man << 13);
}

// load_f32 reads element i of a tensor in its stored dtype as float32, with
// the same rounding as tensor.ReadF32 (exact except F64, rounded to nearest).
ESA_INLINE float load_f32(const void *p, i64 dt, i64 i) {
  switch (dt) {
  case DT_BF16: return u2f((u32)((const u16 *)p)[i] << 16);
  case DT_F16: return f16_to_f32(((const u16 *)p)[i]);
  case DT_F64: return (float)((const double *)p)[i];
  default: return ((const float *)p)[i];
  }
}

// exp and log through the hardware's 2^x and log2 (ex2.approx, lg2.approx:
// about 2 ulp). The kernels are checked against the float32 CPU backend at
// 1e-3 relative, far above this.
ESA_INLINE float expf_(float x) { return __nvvm_ex2_approx_f(x * 1.4426950408889634f); }
ESA_INLINE float logf_(float x) { return __nvvm_lg2_approx_f(x) * 0.6931471805599453f; }

ESA_INLINE float warp_sum(float v) {
  for (int m = 16; m > 0; m >>= 1) v += __nvvm_shfl_sync_bfly_f32(0xffffffffu, v, m, 0x1f);
  return v;
}
ESA_INLINE float warp_max(float v) {
  for (int m = 16; m > 0; m >>= 1) v = __builtin_fmaxf(v, __nvvm_shfl_sync_bfly_f32(0xffffffffu, v, m, 0x1f));
  return v;
}
ESA_INLINE double warp_sum_d(double v) {
  for (int m = 16; m > 0; m >>= 1) {
    u64 u = __builtin_bit_cast(u64, v);
    u32 lo = (u32)__nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)(u32)u, m, 0x1f);
    u32 hi = (u32)__nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)(u32)(u >> 32), m, 0x1f);
    v += u2d((u64)hi << 32 | lo);
  }
  return v;
}

// Block-wide reductions for blocks of up to 1024 threads (a multiple of 32).
// Every thread gets the result. sh must hold 32 values and is reused at once.
ESA_INLINE float block_sum(float v, float *sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads(); // sh may still be read by a previous reduction
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.0f;
  return warp_sum(v);
}
ESA_INLINE float block_max(float v, float *sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : -__builtin_inff();
  return warp_max(v);
}
ESA_INLINE double block_sum_d(double v, double *sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.0;
  return warp_sum_d(v);
}

// Grid-stride loop over [0, n).
#define GRID_LOOP(i, n)                                                                            \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)
