// Elementwise kernels: residual add, dtype conversions, SwiGLU, embedding.
#include "esa.cuh"

// d[i] += s[i].
KERNEL esa_add(float *d, const float *s, i64 n) {
  GRID_LOOP(i, n) d[i] += s[i];
}

// dst[i] = element i of src (stored dtype dt) as float32.
KERNEL esa_to_f32(float *dst, const void *src, i64 dt, i64 n) {
  GRID_LOOP(i, n) dst[i] = load_f32(src, dt, i);
}

// dst[i] = src[i] rounded to bfloat16, to nearest with ties to even, a NaN
// kept a (quiet) NaN — tensor.F32ToBF16 bit for bit: the float32 activation
// operands of a bf16 GEMM (ESA_GPU_GEMM=bf16), which cuBLAS takes only with
// both operands in one type.
KERNEL esa_to_bf16(u16 *dst, const float *src, i64 n) {
  GRID_LOOP(i, n) {
    u32 u = f2u(src[i]);
    dst[i] = (u & 0x7fffffffu) > 0x7f800000u ? (u16)(u >> 16 | 0x40u) : (u16)((u + 0x7fffu + (u >> 16 & 1u)) >> 16);
  }
}

// out = silu(g)·u with silu(g) = g / (1 + e^-g), as the CPU backend.
KERNEL esa_swiglu(float *out, const float *g, const float *u, i64 n) {
  GRID_LOOP(i, n) {
    float x = g[i];
    out[i] = x / (1.0f + expf_(-x)) * u[i];
  }
}

// With s = σ(g): du = dy·g·s, dg = dy·u·s·(1 + g·(1−s)).
KERNEL esa_swiglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u, i64 n) {
  GRID_LOOP(i, n) {
    float x = g[i], s = 1.0f / (1.0f + expf_(-x));
    du[i] = dy[i] * x * s;
    dg[i] = dy[i] * u[i] * s * (1.0f + x * (1.0f - s));
  }
}

// out[r] = w[ids[r]] for a [vocab, dim] table in its stored dtype.
KERNEL esa_embedding(float *out, const void *w, i64 dt, const i64 *ids, i64 rows, i64 dim) {
  GRID_LOOP(i, rows * dim) {
    i64 r = i / dim, j = i - r * dim;
    out[i] = load_f32(w, dt, ids[r] * dim + j);
  }
}

// dw[ids[r]] += dout[r]. One thread per column walks the rows in order, so
// repeated ids add up without atomics and the result is deterministic.
KERNEL esa_embedding_backward(float *dw, const float *dout, const i64 *ids, i64 rows, i64 dim) {
  GRID_LOOP(j, dim) {
    for (i64 r = 0; r < rows; r++) dw[ids[r] * dim + j] += dout[r * dim + j];
  }
}
