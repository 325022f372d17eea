// The emulator's cuBLAS (libcublas.so.12): the entry points package gpu
// finds with dlsym, computing on the host over the emulated device memory.
// It makes the cuBLAS path of the backend — loading by soname, the handle,
// the row-major → column-major mapping of every GEMM — run in the emulated
// tests, as it runs on a GPU, where the built-in kernel is only the fallback.
//
// Column-major, as cuBLAS: C (m×n) = α·op(A)·op(B) + β·C, op(A) m×k.
//
// ESA_EMU_CUBLAS_LOG=FILE appends one line per GEMM to FILE — the entry point,
// the cudaDataType of A, B and C and the compute type — so that the tests can
// check which precision package gpu asked for, which the numbers alone do not
// always show.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" int emu_device_range(const char *op, const void *p, size_t bytes); // driver.cc

enum { OK = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_16F = 2, R_16BF = 14 };                                  // cudaDataType
enum { COMPUTE_32F = 68, COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77 }; // cublasComputeType_t

static int handle_token;

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | man << 13;
  } else if (exp == 0) {
    float f = (float)man * (1.0f / 16777216.0f);
    return sign ? -f : f;
  } else {
    u = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static float load(const void *p, int type, size_t i) {
  switch (type) {
  case R_16BF: {
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  case R_16F: return half_to_float(((const uint16_t *)p)[i]);
  default: return ((const float *)p)[i];
  }
}

static size_t type_size(int type) { return type == R_32F ? 4 : 2; }

// round_to keeps the top 1 + 8 + bits of a float32 (sign, exponent, bits of
// mantissa), rounding to nearest with ties to even; a NaN stays a NaN. This
// is what the reduced-precision compute types do to float32 inputs: TF32
// keeps 10 mantissa bits, BF16 7. (Tensor cores may truncate instead of
// rounding; the tests' tolerances for those modes allow either.)
static float round_to(float f, int bits) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) <= 0x7f800000u) {
    int drop = 23 - bits;
    u += (1u << (drop - 1)) - 1 + (u >> drop & 1);
    u &= ~((1u << drop) - 1);
  }
  memcpy(&f, &u, 4);
  return f;
}

// log_call appends a line to $ESA_EMU_CUBLAS_LOG (see the top).
static void log_call(const char *op, int at, int bt, int ct, int compute) {
  const char *path = getenv("ESA_EMU_CUBLAS_LOG");
  if (!path || !*path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s A=%d B=%d C=%d compute=%d\n", op, at, bt, ct, compute);
  fclose(f);
}

// extent is the bytes a column-major rows×cols operand with leading
// dimension ld spans.
static size_t extent(int rows, int cols, int ld, size_t size) {
  return rows == 0 || cols == 0 ? 0 : ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * size;
}

// gemm computes in float32 from inputs rounded to mantissa bits (23: as
// they are).
static int gemm(const char *op, void *h, int ta, int tb, int m, int n, int k, float alpha, const void *a, int at,
                int lda, const void *b, int bt, int ldb, float beta, float *c, int ldc, int bits) {
  if (h != &handle_token) return NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || (ta != 0 && ta != 1) || (tb != 0 && tb != 1)) return INVALID_VALUE;
  int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1)) {
    fprintf(stderr, "cuda-emu: %s: leading dimensions lda=%d ldb=%d ldc=%d too small for m=%d n=%d k=%d\n", op, lda,
            ldb, ldc, m, n, k);
    return INVALID_VALUE;
  }
  if (emu_device_range(op, a, extent(ar, ac, lda, type_size(at))) ||
      emu_device_range(op, b, extent(br, bc, ldb, type_size(bt))) || emu_device_range(op, c, extent(m, n, ldc, 4)))
    return INVALID_VALUE;
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < m; i++) {
      float s = 0;
      for (int p = 0; p < k; p++) {
        float x = load(a, at, ta ? (size_t)p + (size_t)i * lda : (size_t)i + (size_t)p * lda);
        float y = load(b, bt, tb ? (size_t)j + (size_t)p * ldb : (size_t)p + (size_t)j * ldb);
        if (bits < 23) x = round_to(x, bits), y = round_to(y, bits);
        s += x * y;
      }
      float *out = &c[(size_t)i + (size_t)j * ldc];
      // β = 0 ignores C, as cuBLAS does (it may hold NaN).
      *out = beta == 0 ? alpha * s : alpha * s + beta * *out;
    }
  }
  return OK;
}

extern "C" {

int cublasCreate_v2(void **h) {
  *h = &handle_token;
  return OK;
}

int cublasDestroy_v2(void *h) { return h == &handle_token ? OK : NOT_INITIALIZED; }

int cublasGetVersion_v2(void *h, int *v) {
  if (h != &handle_token) return NOT_INITIALIZED;
  *v = 120000;
  return OK;
}

int cublasSetMathMode(void *h, int) { return h == &handle_token ? OK : NOT_INITIALIZED; }

int cublasSetStream_v2(void *h, void *stream) {
  if (h != &handle_token) return NOT_INITIALIZED;
  return stream ? NOT_SUPPORTED : OK; // only the default stream is emulated
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                   const float *b, int ldb, const float *beta, float *c, int ldc) {
  log_call("cublasSgemm", R_32F, R_32F, R_32F, COMPUTE_32F);
  return gemm("cublasSgemm", h, ta, tb, m, n, k, *alpha, a, R_32F, lda, b, R_32F, ldb, *beta, c, ldc, 23);
}

// float32 output and scaling; inputs float32, float16 or bfloat16. The
// FAST compute types round the inputs to TF32 or BF16 first.
int cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *a, int at, int lda,
                 const void *b, int bt, int ldb, const void *beta, void *c, int ct, int ldc, int compute, int) {
  log_call("cublasGemmEx", at, bt, ct, compute);
  bool in_ok = (at == R_32F || at == R_16F || at == R_16BF) && (bt == R_32F || bt == R_16F || bt == R_16BF);
  if (!in_ok || ct != R_32F ||
      (compute != COMPUTE_32F && compute != COMPUTE_32F_FAST_16BF && compute != COMPUTE_32F_FAST_TF32)) {
    fprintf(stderr, "cuda-emu: cublasGemmEx: types A %d B %d C %d compute %d are not emulated\n", at, bt, ct, compute);
    return NOT_SUPPORTED;
  }
  int bits = compute == COMPUTE_32F_FAST_TF32 ? 10 : compute == COMPUTE_32F_FAST_16BF ? 7 : 23;
  return gemm("cublasGemmEx", h, ta, tb, m, n, k, *(const float *)alpha, a, at, lda, b, bt, ldb,
              *(const float *)beta, (float *)c, ldc, bits);
}

} // extern "C"
