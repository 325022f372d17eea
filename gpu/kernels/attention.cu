// Causal grouped-query attention, forward and backward, in float32.
//
// Simple and exact rather than fast, and nothing of size T×T anywhere: one
// block per (query row, head) walks the keys it can see with an online
// softmax and saves the row's log-sum-exp; the backward recomputes each
// probability from q, k and that log-sum-exp (flash attention's scheme), so
// training memory is O(heads·T) on top of q, k, v and their gradients. K and
// V rows are re-read per query row (from L2), so long sequences are slower
// than a tiled flash-attention kernel would be. The probabilities
// themselves are written only when a caller asks for them.
//
// The sums are in a fixed order (each warp takes every ATT_WARPS-th key or
// query row, then the warps are added in order) and there are no atomics,
// so every result is deterministic.
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

// warp_sum2 returns in every lane the warp's sums of a and of b with six
// exchanges instead of warp_sum's ten twice: the lower half-warp sums a and
// the upper one b after a first exchange that hands each half the other's
// share, then the halves swap their totals.
ESA_INLINE void warp_sum2(float a, float b, int lane, float *sa, float *sb) {
  bool up = lane & 16;
  float keep = up ? b : a, give = up ? a : b;
  keep += __nvvm_shfl_sync_bfly_f32(0xffffffffu, give, 16, 0x1f);
  for (int m = 8; m > 0; m >>= 1) keep += __nvvm_shfl_sync_bfly_f32(0xffffffffu, keep, m, 0x1f);
  float other = __nvvm_shfl_sync_bfly_f32(0xffffffffu, keep, 16, 0x1f);
  *sa = up ? other : keep;
  *sb = up ? keep : other;
}

// dot2 returns, in every lane of the warp, a·x and b·y over hd dimensions,
// lane l holding dimensions l, l+32, …: x and y are the lane's values of the
// row being walked, a and b the block's fixed row (in shared memory).
ESA_INLINE void dot2(const float *a, const float *x, const float *b, const float *y, int lane, i64 hd, float *ax,
                     float *by) {
  float s = 0.0f, r = 0.0f;
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) {
    i64 d = lane + 32 * u;
    if (d < hd) {
      s += a[d] * x[u];
      r += b[d] * y[u];
    }
  }
  warp_sum2(s, r, lane, ax, by);
}

// load_row puts the lane's dimensions of row r (hd long) into x.
ESA_INLINE void load_row(float *x, const float *r, int lane, i64 hd) {
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) {
    i64 d = lane + 32 * u;
    x[u] = d < hd ? r[d] : 0.0f;
  }
}

// q [tq, heads·hd], k and v [tk, kvHeads·hd], out [tq, heads·hd]; query row
// i sits at position p = tk−tq+i and sees keys first_key(p)..p. lse, when
// not null, receives each row's log-sum-exp of its scaled scores [heads, tq]
// (what the backward needs). probs, when not null, receives softmax rows
// [heads, tq, tk], zero outside those keys.
KERNEL esa_attention(float *out, float *probs, float *lse, const float *q, const float *k, const float *v, i64 tq,
                     i64 tk, i64 heads, i64 kvHeads, i64 hd, i64 window, double scale_) {
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
  if (lse && threadIdx.x == 0) lse[h * tq + i] = M + logf_(L); // every row sees a key: L ≥ 1
  if (prow) {
    for (i64 j = threadIdx.x; j < tk; j += blockDim.x) prow[j] = j >= lo && j < n ? expf_(prow[j] - M) * inv : 0.0f;
  }
}

// The backward, for tq = tk = t, from the forward's q, k, v and lse. With
// S_ij = scale·q_i·k_j, P_ij = exp(S_ij − lse_i), dP_ij = dO_i·v_j and
// D_i = Σ_j P_ij dP_ij (= dO_i·O_i):
//
//   dS_ij = P_ij (dP_ij − D_i),
//   dq_i = scale · Σ_j dS_ij k_j,  dk_j = scale · Σ_i dS_ij q_i,  dv_j = Σ_i P_ij dO_i,
//
// with the sums over the pairs that see each other (i−window < j ≤ i) and,
// for dk and dv, over the query heads that share kv head g.

// Step 1, one block per (query row i, head h): D_i into dd [heads, t], for
// step 2, and dq_i. Two passes over the keys, since D_i is needed before the
// sum of dq_i: the first computes P_ij and dP_ij and keeps those of the
// row's first ATT_CACHE keys in shared memory, the second recomputes those
// of the keys after them (rows longer than ATT_CACHE cost a third more).
#define ATT_CACHE 256
KERNEL esa_attention_backward_dq(float *dq, float *dd, const float *dout, const float *q, const float *k,
                                 const float *v, const float *lse, i64 t, i64 heads, i64 kvHeads, i64 hd, i64 window,
                                 double scale_) {
  __shared__ float qsh[ATT_MAXD], dosh[ATT_MAXD];
  __shared__ float pc[ATT_CACHE], dpc[ATT_CACHE];
  __shared__ float wd[ATT_WARPS];
  __shared__ float wacc[ATT_WARPS][ATT_MAXD];
  const float scale = (float)scale_;
  i64 i = blockIdx.x, h = blockIdx.y, g = h / (heads / kvHeads);
  i64 qs = heads * hd, ks = kvHeads * hd, lo = first_key(i, window);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    qsh[d] = q[i * qs + h * hd + d];
    dosh[d] = dout[i * qs + h * hd + d];
  }
  __syncthreads();
  const float L = lse[h * t + i];
  float kv[ATT_PER], vv[ATT_PER], s, p, dp, dot = 0.0f;
  for (i64 j = lo + warp; j <= i; j += ATT_WARPS) {
    load_row(kv, k + j * ks + g * hd, lane, hd);
    load_row(vv, v + j * ks + g * hd, lane, hd);
    dot2(qsh, kv, dosh, vv, lane, hd, &s, &dp);
    p = expf_(s * scale - L);
    dot += p * dp;
    if (lane == 0 && j - lo < ATT_CACHE) {
      pc[j - lo] = p;
      dpc[j - lo] = dp;
    }
  }
  if (lane == 0) wd[warp] = dot;
  __syncthreads(); // also publishes pc and dpc to every lane
  float D = 0.0f;
  for (int w = 0; w < ATT_WARPS; w++) D += wd[w];
  if (threadIdx.x == 0) dd[h * t + i] = D;

  float acc[ATT_PER];
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) acc[u] = 0.0f;
  for (i64 j = lo + warp; j <= i; j += ATT_WARPS) {
    load_row(kv, k + j * ks + g * hd, lane, hd);
    if (j - lo < ATT_CACHE) {
      p = pc[j - lo];
      dp = dpc[j - lo];
    } else {
      load_row(vv, v + j * ks + g * hd, lane, hd);
      dot2(qsh, kv, dosh, vv, lane, hd, &s, &dp);
      p = expf_(s * scale - L);
    }
    float ds = p * (dp - D);
#pragma unroll
    for (int u = 0; u < ATT_PER; u++) acc[u] += ds * kv[u];
  }
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) {
    i64 d = lane + 32 * u;
    if (d < hd) wacc[warp][d] = acc[u];
  }
  __syncthreads();
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) a += wacc[w][d];
    dq[i * qs + h * hd + d] = scale * a;
  }
}

// Step 2, one block per (key j, kv head g): dk_j and dv_j, walking the query
// rows that see key j (j ≤ i < j+window) of every query head of the group.
// Overwrites dk and dv.
KERNEL esa_attention_backward_dkv(float *dk, float *dv, const float *dout, const float *q, const float *k,
                                  const float *v, const float *lse, const float *dd, i64 t, i64 heads, i64 kvHeads,
                                  i64 hd, i64 window, double scale_) {
  __shared__ float ksh[ATT_MAXD], vsh[ATT_MAXD];
  __shared__ float wk[ATT_WARPS][ATT_MAXD], wv[ATT_WARPS][ATT_MAXD];
  const float scale = (float)scale_;
  i64 j = blockIdx.x, g = blockIdx.y, grp = heads / kvHeads;
  i64 end = window > 0 && j + window < t ? j + window : t;
  i64 qs = heads * hd, ks = kvHeads * hd;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    ksh[d] = k[j * ks + g * hd + d];
    vsh[d] = v[j * ks + g * hd + d];
  }
  __syncthreads();
  float ak[ATT_PER], av[ATT_PER], qv[ATT_PER], dov[ATT_PER], s, dp;
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) ak[u] = av[u] = 0.0f;
  for (i64 h = g * grp; h < (g + 1) * grp; h++) {
    for (i64 i = j + warp; i < end; i += ATT_WARPS) {
      load_row(qv, q + i * qs + h * hd, lane, hd);
      load_row(dov, dout + i * qs + h * hd, lane, hd);
      dot2(ksh, qv, vsh, dov, lane, hd, &s, &dp);
      float p = expf_(s * scale - lse[h * t + i]), ds = p * (dp - dd[h * t + i]);
#pragma unroll
      for (int u = 0; u < ATT_PER; u++) {
        ak[u] += ds * qv[u];
        av[u] += p * dov[u];
      }
    }
  }
#pragma unroll
  for (int u = 0; u < ATT_PER; u++) {
    i64 d = lane + 32 * u;
    if (d < hd) {
      wk[warp][d] = ak[u];
      wv[warp][d] = av[u];
    }
  }
  __syncthreads();
  for (i64 d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f, b = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) {
      a += wk[w][d];
      b += wv[w][d];
    }
    dk[j * ks + g * hd + d] = scale * a;
    dv[j * ks + g * hd + d] = b;
  }
}
