// Cross-entropy loss with its logit gradient, one pass over the vocabulary.
#include "esa.cuh"

// One block per row r. For targets[r] ≥ 0: nll[r] = m + log Σ_j e^(z_j − m)
// − z_t (the exponentials summed in float64, as the CPU backend does), and,
// when dlogits is not null, dlogits row = softmax(z) − onehot(t). Rows with a
// negative target get nll 0 and a zero gradient row. nll is summed on the
// host in row order, so the total is deterministic. dlogits may be logits
// itself: z[t] is read before the barriers of the first reduction, and each
// element is then read and overwritten by the same thread.
KERNEL esa_cross_entropy(float *dlogits, double *nll, const float *logits, const i64 *targets, i64 vocab) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  i64 r = blockIdx.x, tgt = targets[r];
  const float *z = logits + r * vocab;
  float *dz = dlogits ? dlogits + r * vocab : 0;
  if (tgt >= vocab) return; // the host rejects such targets
  float zt = tgt >= 0 ? z[tgt] : 0.0f;
  if (tgt < 0) {
    if (dz)
      for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) dz[j] = 0.0f;
    if (threadIdx.x == 0) nll[r] = 0.0;
    return;
  }
  float m = -__builtin_inff();
  for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) m = __builtin_fmaxf(m, z[j]);
  m = block_max(m, shf);
  double se = 0.0;
  for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) {
    float e = expf_(z[j] - m);
    se += (double)e;
    if (dz) dz[j] = e;
  }
  se = block_sum_d(se, shd);
  if (threadIdx.x == 0) nll[r] = (double)m + (double)logf_((float)se) - (double)zt;
  if (!dz) return;
  float inv = (float)(1.0 / se);
  for (i64 j = threadIdx.x; j < vocab; j += blockDim.x) dz[j] = dz[j] * inv - (j == tgt ? 1.0f : 0.0f);
}
