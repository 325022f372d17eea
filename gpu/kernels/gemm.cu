// The fallback GEMM when no cuBLAS library is found: float32, row-major,
// C = alpha·op(A)·op(B) + beta·C with op(A) [M,K], op(B) [K,N], C [M,N].
// op(A)[m][k] is A[k·lda+m] when transA, else A[m·lda+k]; likewise B.
// 64×64 tiles of C per block of 16×16 threads, each thread computing 4×4
// outputs strided by 16 so that shared-memory reads and C stores coalesce.
#include "esa.cuh"

#define BM 64
#define BN 64
#define BK 16

KERNEL esa_sgemm(i64 transA, i64 transB, i64 M, i64 N, i64 K, double alpha, const float *A, i64 lda, const float *B,
                 i64 ldb, double beta, float *C, i64 ldc) {
  __shared__ float As[BK][BM];
  __shared__ float Bs[BK][BN];
  int tx = threadIdx.x & 15, ty = threadIdx.x >> 4, tid = threadIdx.x;
  i64 m0 = (i64)blockIdx.y * BM, n0 = (i64)blockIdx.x * BN;
  float acc[4][4];
#pragma unroll
  for (int a = 0; a < 4; a++)
#pragma unroll
    for (int b = 0; b < 4; b++) acc[a][b] = 0.0f;

  for (i64 k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
    for (int r = 0; r < 4; r++) {
      int e = tid + 256 * r; // 1024 elements per tile
      int mm, kk;
      if (transA) {
        mm = e % BM;
        kk = e / BM;
      } else {
        mm = e / BK;
        kk = e % BK;
      }
      i64 gm = m0 + mm, gk = k0 + kk;
      float val = 0.0f;
      if (gm < M && gk < K) val = transA ? A[gk * lda + gm] : A[gm * lda + gk];
      As[kk][mm] = val;
      int nn;
      if (transB) {
        nn = e / BK;
        kk = e % BK;
      } else {
        nn = e % BN;
        kk = e / BN;
      }
      i64 gn = n0 + nn;
      gk = k0 + kk;
      val = 0.0f;
      if (gn < N && gk < K) val = transB ? B[gn * ldb + gk] : B[gk * ldb + gn];
      Bs[kk][nn] = val;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float av[4], bv[4];
#pragma unroll
      for (int a = 0; a < 4; a++) av[a] = As[kk][ty + 16 * a];
#pragma unroll
      for (int b = 0; b < 4; b++) bv[b] = Bs[kk][tx + 16 * b];
#pragma unroll
      for (int a = 0; a < 4; a++)
#pragma unroll
        for (int b = 0; b < 4; b++) acc[a][b] += av[a] * bv[b];
    }
    __syncthreads();
  }
  float al = (float)alpha, be = (float)beta;
#pragma unroll
  for (int a = 0; a < 4; a++) {
    i64 gm = m0 + ty + 16 * a;
    if (gm >= M) continue;
#pragma unroll
    for (int b = 0; b < 4; b++) {
      i64 gn = n0 + tx + 16 * b;
      if (gn >= N) continue;
      float *c = C + gm * ldc + gn;
      // beta = 0 must not read C, which may hold garbage (NaN) before a write.
      *c = be == 0.0f ? al * acc[a][b] : al * acc[a][b] + be * *c;
    }
  }
}
