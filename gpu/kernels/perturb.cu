// Perturbation of the device copy of a weight tensor in its stored dtype,
// and the checksum that proves a restore was bit-exact.
#include "esa.cuh"

// Flips bit bit[e] of element idx[e] (elements of esize bytes, little-endian)
// for every e. The XOR is atomic on the aligned 32-bit word holding the
// bit, so entries that share an element or a word cannot race, and applying
// the same list again restores the original bits.
KERNEL esa_flip_bits(void *data, i64 esize, const i64 *idx, const i64 *bit, i64 n) {
  GRID_LOOP(e, n) {
    u64 byte = (u64)idx[e] * (u64)esize + (u64)(bit[e] >> 3);
    u32 *word = (u32 *)((u8 *)data + (byte & ~(u64)3));
    __nvvm_atom_xor_gen_i((int *)word, (int)(1u << ((byte & 3) * 8 + (bit[e] & 7))));
  }
}

// Writes the stored bytes vals[e·esize ...] into element idx[e], for every e
// (the host's new or original values; O(k) instead of re-uploading tensors).
KERNEL esa_patch(void *data, i64 esize, const i64 *idx, const u8 *vals, i64 n) {
  GRID_LOOP(i, n * esize) {
    i64 e = i / esize, b = i - e * esize;
    ((u8 *)data)[idx[e] * esize + b] = vals[i];
  }
}

ESA_INLINE u64 mix64(u64 z) { // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// sum[0] += Σ_i mix64(word_i + i·φ) over the little-endian 64-bit words of
// nbytes bytes at data (the last word zero-padded); data is 8-byte aligned.
// The Go function Checksum in checksum.go computes the same value on host
// bytes (it also folds in the length).
KERNEL esa_checksum(u64 *sum, const void *data, i64 nbytes) {
  i64 nw = (nbytes + 7) / 8;
  u64 acc = 0;
  GRID_LOOP(i, nw) {
    u64 word;
    if (8 * i + 8 <= nbytes) {
      word = ((const u64 *)data)[i];
    } else {
      word = 0;
      for (i64 b = 8 * i; b < nbytes; b++) word |= (u64)((const u8 *)data)[b] << (8 * (b - 8 * i));
    }
    acc += mix64(word + (u64)i * 0x9e3779b97f4a7c15ull);
  }
  for (int m = 16; m > 0; m >>= 1) {
    u32 lo = (u32)__nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)(u32)acc, m, 0x1f);
    u32 hi = (u32)__nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)(u32)(acc >> 32), m, 0x1f);
    acc += (u64)hi << 32 | lo;
  }
  if ((threadIdx.x & 31) == 0 && acc) __nvvm_atom_add_gen_ll((long long *)sum, (long long)acc);
}
