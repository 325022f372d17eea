// Rotary position embedding, both pair layouts, forward and inverse.
#include "esa.cuh"

// One block per (row, head), one thread per pair i < rotDim/2; the first
// rotDim dims of each head rotate, the rest pass through (partial rotary).
// Row r is at position pos0 + r; cos and sin are [positions, rotDim/2]. Layouts as in
// backend.Backend.Rope: half-split pairs (i, i+half); interleaved pairs
// (2i, 2i+1) are read interleaved and written half-split, and the inverse
// reads half-split and writes interleaved. Every thread reads its pair
// before the barrier and writes after it, so the in-place reordering of the
// interleaved layouts cannot race.
KERNEL esa_rope(float *x, const float *cos, const float *sin, i64 heads, i64 headDim, i64 rotDim, i64 pos0,
                i64 interleaved, i64 inverse) {
  i64 rh = blockIdx.x, r = rh / heads;
  i64 half = rotDim / 2, i = threadIdx.x;
  float *v = x + rh * headDim;
  float a = 0.0f, b = 0.0f, co = 0.0f, si = 0.0f;
  if (i < half) {
    i64 p = (pos0 + r) * half + i;
    co = cos[p];
    si = sin[p];
    if (interleaved && !inverse) {
      a = v[2 * i];
      b = v[2 * i + 1];
    } else {
      a = v[i];
      b = v[i + half];
    }
  }
  __syncthreads();
  if (i >= half) return;
  if (interleaved && inverse) {
    v[2 * i] = a * co + b * si;
    v[2 * i + 1] = b * co - a * si;
    return;
  }
  if (inverse) si = -si;
  v[i] = a * co - b * si;
  v[i + half] = b * co + a * si;
}
