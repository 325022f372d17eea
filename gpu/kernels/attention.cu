// Causal grouped-query attention, forward and backward, in float32.
//
// Simple and exact rather than fast: one block per (query row, head) walks
// the keys it can see with an online softmax, so nothing of size T×T is
// needed unless the caller asks for the probabilities (the backward uses
// them). K and V rows are re-read per query row (from L2), so long
// sequences are slower than a tiled flash-attention kernel would be.
#include "esa.cuh"

#define ATT_WARPS 4     // blockDim.x = 32·ATT_WARPS
#define ATT_MAXD 256    // largest headDim (the host checks)
#define ATT_PER (ATT_MAXD / 32)

// first_key is the first key a query at position p sees: 0, or p−window+1
// under a sliding window (window > 0).
ESA_INLINE i64 first_key(i64 p, i64 window) {
  if (window <= 0 || p - window + 1 < 0) return 0;
  return p - window + 1;
}

// q [tq, heads·hd], k and v [tk, kvHeads·hd], out [tq, heads·hd]; query row
// i sits at position p = tk−tq+i and sees keys first_key(p)..p. probs, when
// not null, receives softmax rows [heads, tq, tk], zero outside those keys.
KERNEL esa_attention(float *out, float *probs, const float *q, const float *k, const float *v, i64 tq, i64 tk,
                     i64 heads, i64 kvHeads, i64 hd, i64 window, double scale_) {
  __shared__ float qsh[ATT_MAXD];
  __shared__ float wm[ATT_WARPS], wl[ATT_WARPS];
  __shared__ float wacc[ATT_WARPS][ATT_MAXD];
  const float scale = (float)scale_;
  i64 i = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
  i64 qs = heads * hd, ks = kvHeads * hd;
  i64 n = tk - tq + i + 1, lo = first_key(n - 1, window);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) qsh[d] = q[i * qs + h * hd + d];
  __syncthreads();

  float m = -__builtin_inff(), l = 0.0f, acc[ATT_PER];
#pragma unroll
  for (int t = 0; t < ATT_PER; t++) acc[t] = 0.0f;
  float *prow = probs ? probs + (h * tq + i) * tk : 0;
  for (i64 j = lo + warp; j < n; j += ATT_WARPS) {
    const float *kr = k + j * ks + g * hd, *vr = v + j * ks + g * hd;
    float s = 0.0f;
#pragma unroll
    for (int t = 0; t < ATT_PER; t++) {
      i64 d = lane + 32 * t;
      if (d < hd) s += qsh[d] * kr[d];
    }
    s = warp_sum(s) * scale;
    if (prow && lane == 0) prow[j] = s; // the raw score, normalised below
    float mn = __builtin_fmaxf(m, s);
    float c = expf_(m - mn), p = expf_(s - mn);
    l = l * c + p;
#pragma unroll
    for (int t = 0; t < ATT_PER; t++) {
      i64 d = lane + 32 * t;
      if (d < hd) acc[t] = acc[t] * c + p * vr[d];
    }
    m = mn;
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int t = 0; t < ATT_PER; t++) {
    i64 d = lane + 32 * t;
    if (d < hd) wacc[warp][d] = acc[t];
  }
  __syncthreads();
  // Merge the warps' partial softmaxes. A warp that saw no key has l = 0.
  float M = -__builtin_inff();
  for (int w = 0; w < ATT_WARPS; w++)
    if (wl[w] > 0.0f) M = __builtin_fmaxf(M, wm[w]);
  float L = 0.0f, f[ATT_WARPS];
  for (int w = 0; w < ATT_WARPS; w++) {
    f[w] = wl[w] > 0.0f ? expf_(wm[w] - M) : 0.0f;
    L += wl[w] * f[w];
  }
  float inv = 1.0f / L;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) o += wacc[w][d] * f[w];
    out[i * qs + h * hd + d] = o * inv;
  }
  if (prow) {
    for (i64 j = threadIdx.x; j < tk; j += blockDim.x) prow[j] = j >= lo && j < n ? expf_(prow[j] - M) * inv : 0.0f;
  }
}

// Backward, step 1, for tq = tk = t. One block per (row i, head h):
// dP_ij = dO_i·V_j, then dS_ij = P_ij (dP_ij − Σ_j' P_ij' dP_ij') for the
// keys row i sees, and 0 elsewhere. ds is [heads, t, t].
KERNEL esa_attention_backward_ds(float *ds, const float *dout, const float *v, const float *probs, i64 t, i64 heads,
                                 i64 kvHeads, i64 hd, i64 window) {
  __shared__ float dosh[ATT_MAXD];
  __shared__ float sh[32];
  i64 i = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
  i64 qs = heads * hd, ks = kvHeads * hd;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) dosh[d] = dout[i * qs + h * hd + d];
  __syncthreads();
  const float *prow = probs + (h * t + i) * t;
  float *dsrow = ds + (h * t + i) * t;
  i64 lo = first_key(i, window);
  float dot = 0.0f;
  for (i64 j = lo + warp; j <= i; j += ATT_WARPS) {
    const float *vr = v + j * ks + g * hd;
    float s = 0.0f;
#pragma unroll
    for (int u = 0; u < ATT_PER; u++) {
      i64 d = lane + 32 * u;
      if (d < hd) s += dosh[d] * vr[d];
    }
    s = warp_sum(s);
    if (lane == 0) {
      dsrow[j] = s;
      dot += prow[j] * s;
    }
  }
  dot = block_sum(dot, sh); // its barriers also publish dsrow to the block
  for (i64 j = threadIdx.x; j < t; j += blockDim.x) dsrow[j] = j >= lo && j <= i ? prow[j] * (dsrow[j] - dot) : 0.0f;
}

// Backward, step 2: dq_i = scale · Σ_j dS_ij K_j over the keys row i sees.
// One block per (i, h), threads over the head dimension.
KERNEL esa_attention_backward_dq(float *dq, const float *ds, const float *k, i64 t, i64 heads, i64 kvHeads, i64 hd,
                                 i64 window, double scale) {
  i64 i = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
  i64 qs = heads * hd, ks = kvHeads * hd;
  const float *dsrow = ds + (h * t + i) * t;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (i64 j = first_key(i, window); j <= i; j++) acc += dsrow[j] * k[j * ks + g * hd + d];
    dq[i * qs + h * hd + d] = (float)scale * acc;
  }
}

// Backward, step 3: for key j and kv head g, summed over the query heads of
// the group and the rows that see it (j ≤ i, and i < j+window under a
// sliding window): dk_j = scale · Σ dS_ij Q_i, dv_j = Σ P_ij dO_i.
// Overwrites dk and dv.
KERNEL esa_attention_backward_dkv(float *dk, float *dv, const float *ds, const float *probs, const float *q,
                                  const float *dout, i64 t, i64 heads, i64 kvHeads, i64 hd, i64 window, double scale) {
  i64 j = blockIdx.x, g = blockIdx.y, grp = heads / kvHeads;
  i64 end = window > 0 && j + window < t ? j + window : t;
  i64 qs = heads * hd, ks = kvHeads * hd;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float ak = 0.0f, av = 0.0f;
    for (i64 h = g * grp; h < (g + 1) * grp; h++) {
      const float *dsh = ds + h * t * t, *ph = probs + h * t * t;
      for (i64 i = j; i < end; i++) {
        ak += dsh[i * t + j] * q[i * qs + h * hd + d];
        av += ph[i * t + j] * dout[i * qs + h * hd + d];
      }
    }
    dk[j * ks + g * hd + d] = (float)scale * ak;
    dv[j * ks + g * hd + d] = av;
  }
}
