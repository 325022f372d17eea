// What gpu/kernels/esa.cuh takes from CUDA, for compiling the kernels as host
// C++ into the CPU emulator of the CUDA driver (see README.md here).
//
// Every CUDA thread of a block is a fiber of one OS thread (driver.cc), so
// __shared__ variables are function statics (one copy, blocks run one after
// another), atomics are plain read-modify-writes, and __syncthreads and the
// warp shuffles/votes are barriers at which the fibers switch.
#pragma once

#define __global__
#define __device__
#define __shared__ static
#define ESA_INLINE static inline __attribute__((always_inline))
#define KERNEL extern "C" void

struct emu_uint3 {
  unsigned int x, y, z;
};

extern "C" {
// The calling fiber's threadIdx, and the launch's blockIdx, blockDim, gridDim.
const emu_uint3 *emu_thread_idx(void);
extern emu_uint3 emu_block_idx, emu_block_dim, emu_grid_dim;
void emu_syncthreads(void);
// One value per lane is exchanged through the warp: lane reads lane^mask's.
unsigned int emu_shfl_bfly(unsigned int v, int mask);
unsigned int emu_ballot(int pred);
float emu_exp2f(float x);
float emu_log2f(float x);
double emu_sqrt(double x);
}

#define threadIdx (*emu_thread_idx())
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __syncthreads() emu_syncthreads()

static inline float __nvvm_shfl_sync_bfly_f32(unsigned int, float v, int m, int) {
  return __builtin_bit_cast(float, emu_shfl_bfly(__builtin_bit_cast(unsigned int, v), m));
}
static inline int __nvvm_shfl_sync_bfly_i32(unsigned int, int v, int m, int) {
  return (int)emu_shfl_bfly((unsigned int)v, m);
}
static inline unsigned int __nvvm_vote_ballot_sync(unsigned int, bool pred) { return emu_ballot(pred); }
static inline int __nvvm_atom_add_gen_i(volatile int *p, int v) {
  int old = *p;
  *p = old + v;
  return old;
}
static inline long long __nvvm_atom_add_gen_ll(volatile long long *p, long long v) {
  long long old = *p;
  *p = old + v;
  return old;
}
static inline int __nvvm_atom_xor_gen_i(volatile int *p, int v) {
  int old = *p;
  *p = old ^ v;
  return old;
}
static inline float __nvvm_ex2_approx_f(float x) { return emu_exp2f(x); }
static inline float __nvvm_lg2_approx_f(float x) { return emu_log2f(x); }
static inline double __nvvm_sqrt_rn_d(double x) { return emu_sqrt(x); }
