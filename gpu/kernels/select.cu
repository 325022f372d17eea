// Device-side top-k / bottom-k selection over the scores of many tensors
// (radix select): histograms of an order-preserving 32-bit key of each score
// find the k-th key in three passes (11, 11 and 10 bits); then every score
// above it is gathered, and of those equal to it the first ones in (tensor,
// flat index) order, so only O(k) results reach the host. Scores are
// computed on the fly from the weights and gradients, never stored. The host
// side of the algorithm is in select.go; select_sim_test.go checks it against
// package rank with a Go model of these kernels.
#include "esa.cuh"

// Metrics computed here; the numbering is select.go's.
enum { M_SCORES = 0, M_MAGNITUDE = 1, M_GRAD_X_WEIGHT = 2 };

// score is |w| or |g·w| with w widened exactly from its stored dtype and one
// float32 rounding of the product, bit for bit what the CPU code computes.
ESA_INLINE float score(i64 metric, const float *g, const void *w, i64 wdt, i64 i) {
  switch (metric) {
  case M_MAGNITUDE: return __builtin_fabsf(load_f32(w, wdt, i));
  case M_GRAD_X_WEIGHT: return __builtin_fabsf(g[i] * load_f32(w, wdt, i));
  default: return g[i];
  }
}

// key maps a score to a uint32 whose order is the float order (−0 = +0);
// bottom selection inverts it so that the k largest keys are always wanted.
ESA_INLINE u32 key(float s, i64 bottom) {
  u32 b = f2u(s);
  if (b == 0x80000000u) b = 0;
  u32 k = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return bottom ? ~k : k;
}

#define HIST_BINS 2048

// hist[d] += #{i : key_i & mask == prefix, (key_i >> shift) & (2^width−1) = d};
// nans[0] += #NaN scores (on the first pass, mask = 0).
KERNEL esa_select_hist(u64 *hist, u64 *nans, const float *g, const void *w, i64 wdt, i64 metric, i64 n, i64 bottom,
                       i64 shift, i64 width, u64 prefix, u64 mask) {
  __shared__ u32 h[HIST_BINS];
  __shared__ u32 bad;
  u32 dm = (1u << width) - 1;
  for (int b = threadIdx.x; b < HIST_BINS; b += blockDim.x) h[b] = 0;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  GRID_LOOP(i, n) {
    float s = score(metric, g, w, wdt, i);
    if (s != s) {
      __nvvm_atom_add_gen_i((int *)&bad, 1);
      continue;
    }
    u32 k = key(s, bottom);
    if ((k & (u32)mask) == (u32)prefix) __nvvm_atom_add_gen_i((int *)&h[(k >> shift) & dm], 1);
  }
  __syncthreads();
  for (int b = threadIdx.x; b <= (int)dm; b += blockDim.x)
    if (h[b]) __nvvm_atom_add_gen_ll((long long *)&hist[b], (long long)h[b]);
  if (threadIdx.x == 0 && bad) __nvvm_atom_add_gen_ll((long long *)nans, (long long)bad);
}

// Every score whose key is above thresh goes to the next free slot (order
// does not matter: the host sorts the O(k) results). keys are tensor<<40 | flat.
KERNEL esa_select_gather_above(u64 *keys, float *scores, u64 *count, const float *g, const void *w, i64 wdt,
                               i64 metric, i64 n, i64 bottom, u64 thresh, i64 tensor, i64 cap) {
  GRID_LOOP(i, n) {
    float s = score(metric, g, w, wdt, i);
    if (s != s || key(s, bottom) <= (u32)thresh) continue;
    u64 slot = (u64)__nvvm_atom_add_gen_ll((long long *)count, 1);
    if (slot < (u64)cap) {
      keys[slot] = (u64)tensor << 40 | (u64)i;
      scores[slot] = s;
    }
  }
}

// counts[b] = #{i in chunk b : key_i == thresh}, chunk b = [b·chunk, (b+1)·chunk).
KERNEL esa_select_count_eq(u64 *counts, const float *g, const void *w, i64 wdt, i64 metric, i64 n, i64 bottom,
                           u64 thresh, i64 chunk) {
  __shared__ float sh[32];
  i64 lo = (i64)blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
  float c = 0.0f; // counts per thread stay far below 2^24
  for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    float s = score(metric, g, w, wdt, i);
    if (s == s && key(s, bottom) == (u32)thresh) c += 1.0f;
  }
  c = block_sum(c, sh);
  if (threadIdx.x == 0) counts[blockIdx.x] = (u64)c;
}

// Ordered compaction of the scores equal to thresh: chunk b's matches, in
// flat order, take slots off[b], off[b]+1, ... and only slots below limit
// are written (at base + slot). off is the host's exclusive prefix sum of
// esa_select_count_eq. blockDim.x is a multiple of 32, at most 1024.
KERNEL esa_select_gather_eq(u64 *keys, float *scores, const u64 *off, const float *g, const void *w, i64 wdt,
                            i64 metric, i64 n, i64 bottom, u64 thresh, i64 chunk, i64 tensor, u64 limit, u64 base) {
  __shared__ u32 wc[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  u64 run = off[blockIdx.x];
  i64 lo = (i64)blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
  for (i64 t0 = lo; t0 < hi && run < limit; t0 += blockDim.x) {
    i64 i = t0 + threadIdx.x;
    float s = 0.0f;
    int hit = 0;
    if (i < hi) {
      s = score(metric, g, w, wdt, i);
      hit = s == s && key(s, bottom) == (u32)thresh;
    }
    u32 ballot = __nvvm_vote_ballot_sync(0xffffffffu, hit);
    if (lane == 0) wc[warp] = __builtin_popcount(ballot);
    __syncthreads();
    u32 before = 0, total = 0;
    for (int v = 0; v < nw; v++) {
      if (v < warp) before += wc[v];
      total += wc[v];
    }
    if (hit) {
      u64 slot = run + before + __builtin_popcount(ballot & ((1u << lane) - 1));
      if (slot < limit) {
        keys[base + slot] = (u64)tensor << 40 | (u64)i;
        scores[base + slot] = s;
      }
    }
    run += total;
    __syncthreads(); // wc is rewritten by the next tile
  }
}
