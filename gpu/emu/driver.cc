// A CPU emulator of the part of the CUDA driver API (libcuda.so.1) that
// gorgonia.org/cu and package gpu use, running the kernels of gpu/kernels
// compiled as host C++. It lets the cuda build of esa — the Go code that
// drives the device and the kernels' logic — be tested on a machine without
// a GPU. See README.md here for what it checks and what it cannot.
//
// Device memory is host memory (malloc) with red zones; a kernel launch runs
// the blocks one after another, each block's threads as fibers of the
// calling OS thread that switch at __syncthreads and warp exchanges.
#include <cuda.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "emu.h"
#include "register.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void logf_(const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  fputs("cuda-emu: ", stderr);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static bool env_is(const char *name, const char *value) {
  const char *v = getenv(name);
  return v && strcmp(v, value) == 0;
}

// ---- kernels ----

struct kernel {
  const char *name;
  emu_thunk_fn call;
  emu_check_fn check;
  long launches; // for ESA_EMU_PROFILE=1
  double seconds;
};
static kernel kernels[256];
static int nkernels;

void emu_register(const char *name, emu_thunk_fn call, emu_check_fn check) {
  if (nkernels == (int)(sizeof kernels / sizeof kernels[0])) {
    logf_("too many kernels");
    abort();
  }
  kernels[nkernels++] = kernel{name, call, check, 0, 0};
}

static double now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// ESA_EMU_PROFILE=FILE keeps FILE up to date (at most once a second, and
// when the context is released) with launches and emulated time per kernel.
// Go programs leave without running atexit handlers, hence the rewrites.
static double profiled;
static void profile(bool force) {
  const char *path = getenv("ESA_EMU_PROFILE");
  if (!path || !*path || (!force && now() - profiled < 1)) return;
  profiled = now();
  FILE *f = fopen(path, "w");
  if (!f) return;
  double total = 0;
  for (int i = 0; i < nkernels; i++) total += kernels[i].seconds;
  for (int i = 0; i < nkernels; i++) {
    if (kernels[i].launches)
      fprintf(f, "%-28s %8ld launches %9.3f s (%4.1f%%)\n", kernels[i].name, kernels[i].launches, kernels[i].seconds,
              100 * kernels[i].seconds / total);
  }
  fclose(f);
}

// ---- device memory ----

// Every allocation has RED bytes of 0xA5 on each side, checked after every
// launch and copy, so a kernel or copy that writes out of bounds is named.
// New memory is filled with 0xFF (float NaN): code that assumes zeroed
// device memory fails here as it may on a GPU.
enum { RED = 256 };
struct alloc {
  uint8_t *base; // user pointer; the red zones are around it
  size_t size;
};
static alloc *allocs;
static int nallocs, capallocs;
static size_t allocated;

static size_t total_mem() {
  const char *v = getenv("ESA_EMU_MEM_MB");
  size_t mb = v ? (size_t)strtoull(v, 0, 10) : 0;
  return (mb ? mb : 16384) << 20;
}

static const alloc *find_alloc(const void *p, size_t n) {
  const uint8_t *q = (const uint8_t *)p;
  for (int i = 0; i < nallocs; i++) {
    if (q >= allocs[i].base && q + n <= allocs[i].base + allocs[i].size) return &allocs[i];
  }
  return 0;
}

static bool red_ok(const alloc &a) {
  for (int i = 0; i < RED; i++) {
    if (a.base[-1 - i] != 0xA5 || a.base[a.size + i] != 0xA5) return false;
  }
  return true;
}

// check_red names every allocation whose red zones were written.
static bool check_red(const char *after) {
  bool ok = true;
  for (int i = 0; i < nallocs; i++) {
    if (!red_ok(allocs[i])) {
      logf_("%s wrote outside device allocation %p (%zu bytes)", after, (void *)allocs[i].base, allocs[i].size);
      ok = false;
    }
  }
  return ok;
}

int emu_check_ptr(const char *kernel, int i, const void *p) {
  if (!p || find_alloc(p, 0)) return 0;
  logf_("kernel %s: parameter %d (%p) points into no device allocation", kernel, i, p);
  return 1;
}

// emu_device_range is check_range for the emulated cuBLAS (cublas.cc):
// nonzero when [p, p+n) is not inside one device allocation.
extern "C" int emu_device_range(const char *op, const void *p, size_t n) {
  pthread_mutex_lock(&mu);
  bool ok = n == 0 || find_alloc(p, n);
  pthread_mutex_unlock(&mu);
  if (!ok) logf_("%s: device range %p + %zu bytes is not inside one allocation", op, p, n);
  return !ok;
}

static CUresult check_range(const char *op, CUdeviceptr p, size_t n) {
  if (n == 0 || find_alloc((void *)p, n)) return CUDA_SUCCESS;
  logf_("%s: device range %p + %zu bytes is not inside one allocation", op, (void *)p, n);
  return CUDA_ERROR_INVALID_VALUE;
}

// ---- fibers ----

// emu_switch saves the callee-saved registers and the floating-point control
// words on the current stack, stores the stack pointer in *from, and resumes
// the fiber whose stack pointer is to. (ucontext's swapcontext does the same
// plus a signal-mask system call per switch, which made the emulator ten
// times slower.)
#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif
extern "C" void emu_switch(void **from, void *to);
extern "C" void emu_fiber_start(void);
asm(R"(
  .text
  .globl emu_switch
  .type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch, .-emu_switch

  .globl emu_fiber_start
  .type emu_fiber_start,@function
emu_fiber_start:
  movq %r12, %rdi
  call emu_fiber_main
  ud2
  .size emu_fiber_start, .-emu_fiber_start
)");

enum fstate { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };
struct fiber {
  void *sp;
  emu_uint3 tid;
  int lane, warp, bank;
  fstate state;
};
enum { STACK = 64 << 10, PAGE = 4096, MAXTHREADS = 1024 };
static fiber fibers[MAXTHREADS];
static uint8_t *stacks[MAXTHREADS]; // each with a guard page below
static void *sched_sp;
static fiber *cur;
static const kernel *running;
static void **running_params;
static unsigned int slots[2][MAXTHREADS / 32][32];
static int nthreads;

// fiber_stack prepares stack i so that emu_switch to the returned pointer
// enters emu_fiber_start with r12 = i, rsp 16-byte aligned at the call.
static void *fiber_stack(int i) {
  uint64_t *top = (uint64_t *)(stacks[i] + PAGE + STACK);
  uint64_t *sp = top - 2;                        // 16-aligned, then the return address slot:
  *--sp = (uint64_t)(uintptr_t)emu_fiber_start;  // ret lands here with rsp ≡ 0 (mod 16)
  *--sp = 0;                                     // rbp
  *--sp = 0;                                     // rbx
  *--sp = (uint64_t)i;                           // r12
  *--sp = 0;                                     // r13
  *--sp = 0;                                     // r14
  *--sp = 0;                                     // r15
  *--sp = 0x037Full << 32 | 0x1F80;              // mxcsr, x87 control word: the defaults
  return sp;
}

emu_uint3 emu_block_idx, emu_block_dim, emu_grid_dim;

const emu_uint3 *emu_thread_idx(void) { return &cur->tid; }

// Barrier bookkeeping of the running block: threads not yet done, and those
// waiting, for the block and for each warp; runnable threads in a queue.
static int block_live, block_waiting;
static int warp_live[MAXTHREADS / 32], warp_waiting[MAXTHREADS / 32];
static int queue[MAXTHREADS], qhead, qlen;
static bool reverse_order;

static int warp_size(int w) { return nthreads - w * 32 < 32 ? nthreads - w * 32 : 32; }

static void push(int i) { queue[(qhead + qlen++) % MAXTHREADS] = i; }

// release makes the threads in [lo, hi) that wait in state s runnable, but
// for the caller, which goes on running.
static void release(int lo, int hi, fstate s) {
  for (int k = lo; k < hi; k++) {
    int i = reverse_order ? hi - 1 - (k - lo) : k;
    if (fibers[i].state != s) continue;
    fibers[i].state = RUNNABLE;
    if (&fibers[i] != cur) push(i);
  }
}

static void release_warp(int w) {
  warp_waiting[w] = 0;
  release(w * 32, w * 32 + warp_size(w), WAIT_WARP);
}

static void release_block() {
  block_waiting = 0;
  release(0, nthreads, WAIT_BLOCK);
}

// wait blocks the calling thread until every live thread of its warp (or
// block) waits too; the last to arrive releases the others and goes on.
static void wait(fstate s) {
  fiber *f = cur;
  f->state = s;
  if (s == WAIT_WARP && ++warp_waiting[f->warp] == warp_live[f->warp]) {
    release_warp(f->warp);
    return;
  }
  if (s == WAIT_BLOCK && ++block_waiting == block_live) {
    release_block();
    return;
  }
  emu_switch(&f->sp, sched_sp);
}

void emu_syncthreads(void) { wait(WAIT_BLOCK); }


// Warp exchanges go through slots[bank][warp][lane]. The lanes of a warp
// make the same sequence of exchanges, so they agree on the bank, which
// alternates: a lane writes a bank again only after the next exchange's
// barrier, which every lane reaches after reading this one — so one barrier
// per exchange suffices.
unsigned int emu_shfl_bfly(unsigned int v, int mask) {
  fiber *f = cur;
  unsigned int *slot = slots[f->bank][f->warp];
  f->bank ^= 1;
  slot[f->lane] = v;
  wait(WAIT_WARP);
  int src = f->lane ^ (mask & 31);
  return src < warp_size(f->warp) ? slot[src] : v;
}

unsigned int emu_ballot(int pred) {
  fiber *f = cur;
  unsigned int *slot = slots[f->bank][f->warp];
  f->bank ^= 1;
  slot[f->lane] = pred != 0;
  wait(WAIT_WARP);
  unsigned int bits = 0;
  for (int l = 0; l < warp_size(f->warp); l++) {
    if (fibers[f->warp * 32 + l].state != DONE && slot[l]) bits |= 1u << l;
  }
  return bits;
}

float emu_exp2f(float x) { return exp2f(x); }
float emu_log2f(float x) { return log2f(x); }
double emu_sqrt(double x) { return sqrt(x); }

extern "C" void emu_fiber_main(long i) {
  running->call(running_params);
  fiber *f = &fibers[i];
  f->state = DONE;
  block_live--;
  warp_live[f->warp]--;
  // Threads that exited count as arrived, as on a GPU.
  if (warp_waiting[f->warp] && warp_waiting[f->warp] == warp_live[f->warp]) release_warp(f->warp);
  if (block_waiting && block_waiting == block_live) release_block();
  void *dead;
  emu_switch(&dead, sched_sp); // never resumed
}

// run_block runs the threads of one block to completion. It returns false on
// a deadlock: threads that wait at barriers the others never reach.
static bool run_block(bool reverse) {
  reverse_order = reverse;
  block_live = nthreads;
  block_waiting = 0;
  qhead = qlen = 0;
  for (int w = 0; w * 32 < nthreads; w++) {
    warp_live[w] = warp_size(w);
    warp_waiting[w] = 0;
  }
  for (int k = 0; k < nthreads; k++) {
    int i = reverse ? nthreads - 1 - k : k;
    fiber &f = fibers[i];
    f.tid = emu_uint3{(unsigned)(i % emu_block_dim.x), (unsigned)(i / emu_block_dim.x % emu_block_dim.y),
                      (unsigned)(i / (emu_block_dim.x * emu_block_dim.y))};
    f.lane = i & 31;
    f.warp = i >> 5;
    f.bank = 0;
    f.state = RUNNABLE;
    f.sp = fiber_stack(i);
    push(i);
  }
  while (qlen > 0) {
    int i = queue[qhead];
    qhead = (qhead + 1) % MAXTHREADS;
    qlen--;
    cur = &fibers[i];
    emu_switch(&sched_sp, cur->sp);
  }
  if (block_live == 0) return true;
  int atwarp = 0;
  for (int w = 0; w * 32 < nthreads; w++) atwarp += warp_waiting[w];
  logf_("kernel %s: deadlock in block (%u,%u,%u): %d threads at __syncthreads, %d at warp exchanges, %d done",
        running->name, emu_block_idx.x, emu_block_idx.y, emu_block_idx.z, block_waiting, atwarp, nthreads - block_live);
  return false;
}

// ---- driver API ----

static bool initialised;
static int ctx_token; // the one primary context; CUcontext is its address
static __thread CUcontext current;

#define NEED_INIT                                                                                  \
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED

extern "C" {

CUresult cuInit(unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (env_is("ESA_EMU_DEVICES", "0")) return CUDA_ERROR_NO_DEVICE;
  initialised = true;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *v) {
  *v = 11080;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *n) {
  NEED_INIT;
  *n = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
  NEED_INIT;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
  NEED_INIT;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, (size_t)len, "esa CPU emulator (gpu/emu)");
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem(size_t *bytes, CUdevice d) {
  NEED_INIT;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = total_mem();
  return CUDA_SUCCESS;
}

CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice d) {
  NEED_INIT;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  *major = 8;
  *minor = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
  NEED_INIT;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  switch (a) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 8; break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 2; break;
  case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = MAXTHREADS; break;
  case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 << 10; break;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *v = 0x7fffffff; break;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *v = 65535; break;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *v = 65535; break;
  default: *v = 0;
  }
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
  NEED_INIT;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  *c = (CUcontext)&ctx_token;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice d) {
  NEED_INIT;
  pthread_mutex_lock(&mu);
  profile(true);
  pthread_mutex_unlock(&mu);
  return d == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult cuCtxSetCurrent(CUcontext c) {
  NEED_INIT;
  if (c && c != (CUcontext)&ctx_token) return CUDA_ERROR_INVALID_CONTEXT;
  current = c;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *c) {
  NEED_INIT;
  *c = current;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *d) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
  NEED_INIT;
  return current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult cuStreamSynchronize(CUstream s) {
  NEED_INIT;
  if (s) return CUDA_ERROR_INVALID_HANDLE; // only the default stream is emulated
  return current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult cuMemGetInfo(size_t *free_, size_t *total) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&mu);
  *total = total_mem();
  *free_ = allocated < *total ? *total - allocated : 0;
  pthread_mutex_unlock(&mu);
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&mu);
  CUresult r = CUDA_SUCCESS;
  uint8_t *raw = 0;
  if (allocated + n > total_mem() || !(raw = (uint8_t *)malloc(n + 2 * RED))) {
    r = CUDA_ERROR_OUT_OF_MEMORY;
  } else {
    memset(raw, 0xA5, RED);
    memset(raw + RED, 0xFF, n);
    memset(raw + RED + n, 0xA5, RED);
    if (nallocs == capallocs) {
      capallocs = capallocs ? 2 * capallocs : 256;
      allocs = (alloc *)realloc(allocs, sizeof(alloc) * (size_t)capallocs);
    }
    allocs[nallocs++] = alloc{raw + RED, n};
    allocated += n;
    *p = (CUdeviceptr)(uintptr_t)(raw + RED);
  }
  pthread_mutex_unlock(&mu);
  return r;
}

CUresult cuMemFree(CUdeviceptr p) {
  NEED_INIT;
  pthread_mutex_lock(&mu);
  CUresult r = CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < nallocs; i++) {
    if (allocs[i].base != (uint8_t *)(uintptr_t)p) continue;
    if (!red_ok(allocs[i])) logf_("cuMemFree: allocation %p (%zu bytes) was written out of bounds", (void *)p, allocs[i].size);
    allocated -= allocs[i].size;
    free(allocs[i].base - RED);
    allocs[i] = allocs[--nallocs];
    r = CUDA_SUCCESS;
    break;
  }
  pthread_mutex_unlock(&mu);
  if (r != CUDA_SUCCESS) logf_("cuMemFree: %p is not a device allocation", (void *)p);
  return r;
}

static CUresult copy(const char *op, void *dst, const void *src, size_t n, CUdeviceptr d1, CUdeviceptr d2) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&mu);
  CUresult r = check_range(op, d1, n);
  if (r == CUDA_SUCCESS && d2) r = check_range(op, d2, n);
  if (r == CUDA_SUCCESS) memmove(dst, src, n);
  pthread_mutex_unlock(&mu);
  return r;
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n) {
  return copy("cuMemcpyHtoD", (void *)dst, src, n, dst, 0);
}
CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n) {
  return copy("cuMemcpyDtoH", dst, (const void *)src, n, src, 0);
}
CUresult cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return copy("cuMemcpyDtoD", (void *)dst, (const void *)src, n, dst, src);
}

CUresult cuMemsetD32(CUdeviceptr dst, unsigned int v, size_t n) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&mu);
  CUresult r = check_range("cuMemsetD32", dst, n * 4);
  if (r == CUDA_SUCCESS) {
    unsigned int *d = (unsigned int *)dst;
    for (size_t i = 0; i < n; i++) d[i] = v;
  }
  pthread_mutex_unlock(&mu);
  return r;
}

CUresult cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&mu);
  CUresult r = check_range("cuMemsetD8", dst, n);
  if (r == CUDA_SUCCESS) memset((void *)dst, v, n);
  pthread_mutex_unlock(&mu);
  return r;
}

// A module is the PTX text it was loaded from: a function is found only if
// the PTX declares its entry, so a kernel missing from the committed PTX
// fails here as it would on a GPU.
struct module {
  char *ptx;
};

CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int n, CUjit_option *opts, void **vals) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  const char *ptx = (const char *)image;
  if (!strstr(ptx, ".version") || !strstr(ptx, ".target")) {
    for (unsigned int i = 0; i < n; i++) {
      if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) snprintf((char *)vals[i], 64, "cuda-emu: not a PTX text");
    }
    return CUDA_ERROR_INVALID_IMAGE;
  }
  module *mod = (module *)malloc(sizeof(module));
  mod->ptx = strdup(ptx);
  *m = (CUmodule)mod;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *m, const void *image) { return cuModuleLoadDataEx(m, image, 0, 0, 0); }

CUresult cuModuleUnload(CUmodule m) {
  NEED_INIT;
  module *mod = (module *)m;
  free(mod->ptx);
  free(mod);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  NEED_INIT;
  char entry[300];
  snprintf(entry, sizeof entry, ".entry %s(", name);
  if (!strstr(((module *)m)->ptx, entry)) return CUDA_ERROR_NOT_FOUND;
  for (int i = 0; i < nkernels; i++) {
    if (strcmp(kernels[i].name, name) == 0) {
      *f = (CUfunction)&kernels[i];
      return CUDA_SUCCESS;
    }
  }
  logf_("kernel %s is in the PTX but not in the emulator (rebuild it with gpu/emu/build.sh)", name);
  return CUDA_ERROR_NOT_FOUND;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shmem, CUstream stream, void **params,
                        void **extra) {
  NEED_INIT;
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;
  const kernel *k = (const kernel *)f;
  if (stream) {
    logf_("kernel %s: only the default stream is emulated", k->name);
    return CUDA_ERROR_INVALID_HANDLE;
  }
  if (extra || shmem) {
    logf_("kernel %s: extra parameters and dynamic shared memory are not emulated", k->name);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  unsigned long long threads = (unsigned long long)bx * by * bz;
  if (!gx || !gy || !gz || !bx || !by || !bz || threads > MAXTHREADS || bz > 64 || gy > 65535 || gz > 65535 ||
      gx > 0x7fffffffu) {
    logf_("kernel %s: invalid launch grid (%u,%u,%u) block (%u,%u,%u)", k->name, gx, gy, gz, bx, by, bz);
    return CUDA_ERROR_INVALID_VALUE;
  }
  pthread_mutex_lock(&mu);
  if (k->check(k->name, params)) {
    pthread_mutex_unlock(&mu);
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  }
  for (unsigned long long i = 0; i < threads; i++) {
    if (stacks[i]) continue;
    void *s = mmap(0, STACK + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
      pthread_mutex_unlock(&mu);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    mprotect(s, PAGE, PROT_NONE); // a fiber that overflows its stack faults
    stacks[i] = (uint8_t *)s;
  }
  if (env_is("ESA_EMU_TRACE", "1"))
    logf_("launch %s grid (%u,%u,%u) block (%u,%u,%u)", k->name, gx, gy, gz, bx, by, bz);
  // ESA_EMU_ORDER=reverse runs blocks and threads in the opposite order: a
  // kernel whose result depends on the order (a race) then differs.
  bool reverse = env_is("ESA_EMU_ORDER", "reverse");
  running = k;
  running_params = params;
  nthreads = (int)threads;
  emu_grid_dim = emu_uint3{gx, gy, gz};
  emu_block_dim = emu_uint3{bx, by, bz};
  unsigned long long blocks = (unsigned long long)gx * gy * gz;
  CUresult r = CUDA_SUCCESS;
  double t0 = now();
  for (unsigned long long n = 0; n < blocks; n++) {
    unsigned long long b = reverse ? blocks - 1 - n : n;
    emu_block_idx = emu_uint3{(unsigned)(b % gx), (unsigned)(b / gx % gy), (unsigned)(b / ((unsigned long long)gx * gy))};
    if (!run_block(reverse)) {
      r = CUDA_ERROR_LAUNCH_FAILED;
      break;
    }
  }
  ((kernel *)k)->launches++;
  ((kernel *)k)->seconds += now() - t0;
  profile(false);
  char what[300];
  snprintf(what, sizeof what, "kernel %s", k->name);
  if (!check_red(what)) r = CUDA_ERROR_ILLEGAL_ADDRESS;
  running = 0;
  pthread_mutex_unlock(&mu);
  return r;
}

CUresult cuGetErrorString(CUresult e, const char **s) {
  *s = e == CUDA_SUCCESS ? "no error" : "error (cuda-emu)";
  return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult e, const char **s) {
  *s = e == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR (cuda-emu)";
  return CUDA_SUCCESS;
}

// Called by the generated stubs of every other driver entry point.
CUresult emu_unsupported(const char *name) {
  logf_("%s is not emulated", name);
  return CUDA_ERROR_NOT_SUPPORTED;
}

} // extern "C"
