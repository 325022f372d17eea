// RMSNorm forward and backward (Hugging Face LlamaRMSNorm).
#include "esa.cuh"

// One block per row: out = w ⊙ x·rstd, rstd = 1/sqrt(mean(x²) + eps). The
// final scalar step is done in float64 as the CPU backend does.
KERNEL esa_rmsnorm(float *out, float *rstd, const float *x, const void *w, i64 wdt, i64 dim, double eps) {
  __shared__ float sh[32];
  i64 r = blockIdx.x;
  const float *xr = x + r * dim;
  float ss = 0.0f;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) ss += xr[j] * xr[j];
  ss = block_sum(ss, sh);
  float rs = (float)(1.0 / __nvvm_sqrt_rn_d((double)ss / (double)dim + eps));
  if (threadIdx.x == 0) rstd[r] = rs;
  float *o = out + r * dim;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) o[j] = load_f32(w, wdt, j) * (xr[j] * rs);
}

// One block per row: dx += rs·w⊙dy − rs³/dim · (Σ dy⊙w⊙x) · x.
KERNEL esa_rmsnorm_backward_dx(float *dx, const float *dy, const float *x, const float *rstd, const void *w, i64 wdt,
                               i64 dim) {
  __shared__ float sh[32];
  i64 r = blockIdx.x;
  const float *xr = x + r * dim, *dyr = dy + r * dim;
  float dot = 0.0f;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) dot += dyr[j] * load_f32(w, wdt, j) * xr[j];
  dot = block_sum(dot, sh);
  float rs = rstd[r];
  float k = rs * rs * rs * dot / (float)dim;
  float *dxr = dx + r * dim;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) dxr[j] += rs * load_f32(w, wdt, j) * dyr[j] - k * xr[j];
}

// dw += Σ_rows dy⊙x·rstd: one thread per column, rows in order (deterministic).
KERNEL esa_rmsnorm_backward_dw(float *dw, const float *dy, const float *x, const float *rstd, i64 rows, i64 dim) {
  GRID_LOOP(j, dim) {
    float acc = 0.0f;
    for (i64 r = 0; r < rows; r++) acc += dy[r * dim + j] * x[r * dim + j] * rstd[r];
    dw[j] += acc;
  }
}
