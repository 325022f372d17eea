// The GPT-NeoX family's ops: LayerNorm with bias, bias add and its
// gradient, and the exact (erf) GELU.
#include "esa.cuh"

// One block per row: out = (x − mean)·rstd ⊙ w + b (nn.LayerNorm, biased
// variance), mean and variance accumulated in float64 as on the CPU.
KERNEL esa_layernorm(float *out, float *mean, float *rstd, const float *x, const void *w, i64 wdt, const void *b,
                     i64 bdt, i64 dim, double eps) {
  __shared__ double sh[32];
  i64 r = blockIdx.x;
  const float *xr = x + r * dim;
  double s = 0.0;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) s += (double)xr[j];
  double m = block_sum_d(s, sh) / (double)dim;
  double ss = 0.0;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) {
    double d = (double)xr[j] - m;
    ss += d * d;
  }
  double rs = 1.0 / __nvvm_sqrt_rn_d(block_sum_d(ss, sh) / (double)dim + eps);
  if (threadIdx.x == 0) {
    mean[r] = (float)m;
    rstd[r] = (float)rs;
  }
  float *o = out + r * dim;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x)
    o[j] = (float)(((double)xr[j] - m) * rs) * load_f32(w, wdt, j) + load_f32(b, bdt, j);
}

// One block per row: with x̂ = (x−μ)·rstd and g = dout ⊙ w,
// dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), in float64.
KERNEL esa_layernorm_backward_dx(float *dx, const float *dy, const float *x, const float *mean, const float *rstd,
                                 const void *w, i64 wdt, i64 dim) {
  __shared__ double sh[32];
  i64 r = blockIdx.x;
  const float *xr = x + r * dim, *dyr = dy + r * dim;
  double m = mean[r], rs = rstd[r], mg = 0.0, mgx = 0.0;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) {
    double g = (double)dyr[j] * (double)load_f32(w, wdt, j);
    mg += g;
    mgx += g * (((double)xr[j] - m) * rs);
  }
  mg = block_sum_d(mg, sh) / (double)dim;
  mgx = block_sum_d(mgx, sh) / (double)dim;
  float *dxr = dx + r * dim;
  for (i64 j = threadIdx.x; j < dim; j += blockDim.x) {
    double xh = ((double)xr[j] - m) * rs;
    double g = (double)dyr[j] * (double)load_f32(w, wdt, j);
    dxr[j] += (float)(rs * (g - mg - xh * mgx));
  }
}

// dw += Σ_rows dout ⊙ x̂, db += Σ_rows dout: one thread per column, rows in
// order (deterministic).
KERNEL esa_layernorm_backward_dwb(float *dw, float *db, const float *dy, const float *x, const float *mean,
                                  const float *rstd, i64 rows, i64 dim) {
  GRID_LOOP(j, dim) {
    float aw = 0.0f, ab = 0.0f;
    for (i64 r = 0; r < rows; r++) {
      float d = dy[r * dim + j];
      aw += (float)((double)d * (((double)x[r * dim + j] - (double)mean[r]) * (double)rstd[r]));
      ab += d;
    }
    dw[j] += aw;
    db[j] += ab;
  }
}

// y[r, c] += b[c] (b in its stored dtype).
KERNEL esa_add_bias(float *y, const void *b, i64 bdt, i64 rows, i64 cols) {
  GRID_LOOP(i, rows * cols) y[i] += load_f32(b, bdt, i % cols);
}

// db[c] += Σ_r dy[r, c], one thread per column adding the rows in order, as
// the CPU backend does.
KERNEL esa_bias_backward(float *db, const float *dy, i64 rows, i64 cols) {
  GRID_LOOP(j, cols) {
    float acc = db[j];
    for (i64 r = 0; r < rows; r++) acc += dy[r * cols + j];
    db[j] = acc;
  }
}

// erfc_ is erfc with fractional error below 1.2e-7 for every x (Numerical
// Recipes' erfcc, a Chebyshev fit of erfc(z)·e^(z²)); no libdevice here.
ESA_INLINE float erfc_(float x) {
  float z = __builtin_fabsf(x), t = 1.0f / (1.0f + 0.5f * z);
  float p = -0.82215223f + t * 0.17087277f;
  p = 1.48851587f + t * p;
  p = -1.13520398f + t * p;
  p = 0.27886807f + t * p;
  p = -0.18628806f + t * p;
  p = 0.09678418f + t * p;
  p = 0.37409196f + t * p;
  p = 1.00002368f + t * p;
  float e = t * expf_(-z * z - 1.26551223f + t * p);
  return x >= 0.0f ? e : 2.0f - e;
}

#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

// out = x·Φ(x), Φ(x) = erfc(−x/√2)/2 (transformers' exact "gelu").
KERNEL esa_gelu(float *out, const float *x, i64 n) {
  GRID_LOOP(i, n) {
    float v = x[i];
    out[i] = v * 0.5f * erfc_(-v * INV_SQRT2);
  }
}

// dx = dout·(Φ(x) + x·φ(x)).
KERNEL esa_gelu_backward(float *dx, const float *dout, const float *x, i64 n) {
  GRID_LOOP(i, n) {
    float v = x[i];
    float cdf = 0.5f * erfc_(-v * INV_SQRT2), pdf = expf_(-0.5f * v * v) * INV_SQRT_2PI;
    dx[i] = dout[i] * (cdf + v * pdf);
  }
}
