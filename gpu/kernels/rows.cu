// Row rearrangements: GPT-NeoX's fused per-head q/k/v layout, and the row
// gather and scatter of mixture-of-experts routing.
#include "esa.cuh"

// q, k, v [rh, hd] from qkv [rh, 3·hd] (per row-head: q, then k, then v),
// rh = rows·heads.
KERNEL esa_split_qkv(float *q, float *k, float *v, const float *qkv, i64 rh, i64 hd) {
  GRID_LOOP(e, rh * 3 * hd) {
    i64 r = e / (3 * hd), c = e - r * 3 * hd, part = c / hd, d = c - part * hd;
    float *dst = part == 0 ? q : part == 1 ? k : v;
    dst[r * hd + d] = qkv[e];
  }
}

// The inverse of esa_split_qkv.
KERNEL esa_merge_qkv(float *qkv, const float *q, const float *k, const float *v, i64 rh, i64 hd) {
  GRID_LOOP(e, rh * 3 * hd) {
    i64 r = e / (3 * hd), c = e - r * 3 * hd, part = c / hd, d = c - part * hd;
    const float *src = part == 0 ? q : part == 1 ? k : v;
    qkv[e] = src[r * hd + d];
  }
}

// dst[i] = scale[i]·src[rows[i]] (rows of dim; scale null: 1).
KERNEL esa_gather_rows(float *dst, const float *src, const i64 *rows, const double *scale, i64 n, i64 dim) {
  GRID_LOOP(e, n * dim) {
    i64 i = e / dim, j = e - i * dim;
    float v = src[rows[i] * dim + j];
    dst[e] = scale ? v * (float)scale[i] : v;
  }
}

// dst[rows[i]] += scale[i]·src[i] in the order of i (rows may repeat): one
// thread per column, so there is no race and the sums are deterministic.
KERNEL esa_scatter_add_rows(float *dst, const float *src, const i64 *rows, const double *scale, i64 n, i64 dim) {
  GRID_LOOP(j, dim) {
    for (i64 i = 0; i < n; i++) {
      float v = src[i * dim + j];
      dst[rows[i] * dim + j] += scale ? (float)scale[i] * v : v;
    }
  }
}

// out[i] = Σ_j a[rows[i]][j]·b[i][j] in float64, one block per i.
KERNEL esa_row_dots(double *out, const float *a, const float *b, const i64 *rows, i64 dim) {
  __shared__ double sh[32];
  i64 i = blockIdx.x;
  const float *ar = a + rows[i] * dim, *br = b + i * dim;
  double s = 0.0;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) s += (double)ar[j] * (double)br[j];
  s = block_sum_d(s, sh);
  if (threadIdx.x == 0) out[i] = s;
}
