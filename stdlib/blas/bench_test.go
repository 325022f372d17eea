package blas

import (
	"math/rand/v2"
	"testing"
	"time"
)

// benchShape times C = op(A)·op(B) (alpha 1, beta 0) and reports GFLOP/s:
// the mean over all iterations, best-GFLOP/s from the fastest single call
// (the least disturbed by other processes on a shared machine), and
// cpu-GFLOP/s per second of process CPU time (steady under load at one
// thread; at more it is the per-core rate).
// bench/openblas/run.sh runs the same shapes through OpenBLAS.
func benchShape(b *testing.B, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 2))
	av, bv, cv := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	Sgemm(transA, transB, m, n, k, 1, av, lda, bv, ldb, 0, cv, n) // warm the pools
	best := time.Duration(1 << 62)
	cpu0, cpuOK := processCPUTime()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		Sgemm(transA, transB, m, n, k, 1, av, lda, bv, ldb, 0, cv, n)
		best = min(best, time.Since(t0))
	}
	cpu1, _ := processCPUTime()
	flops := 2 * float64(m) * float64(n) * float64(k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()*1e-9, "GFLOP/s")
	b.ReportMetric(flops/best.Seconds()*1e-9, "best-GFLOP/s")
	if cpuOK {
		b.ReportMetric(flops*float64(b.N)/(cpu1-cpu0).Seconds()*1e-9, "cpu-GFLOP/s")
	}
}

func BenchmarkSgemm2048(b *testing.B) { benchShape(b, false, false, 2048, 2048, 2048) }

// BenchmarkSgemmModel uses the 70M-parameter Llama shapes (T=256 tokens,
// dim 512, hidden 1376, vocab 50304): forward X·Wᵀ (NT), backward dX = dY·W
// (NN) and dW = dYᵀ·X (TN), for the MLP and the LM head; and 2048³ with both
// operands transposed.
func BenchmarkSgemmModel(b *testing.B) {
	for _, s := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"256x512x512_NT", false, true, 256, 512, 512},
		{"256x1376x512_NT", false, true, 256, 1376, 512},
		{"256x50304x512_NT", false, true, 256, 50304, 512},
		{"256x512x1376_NN", false, false, 256, 512, 1376},
		{"1376x512x256_TN", true, false, 1376, 512, 256},
		{"256x512x50304_NN", false, false, 256, 512, 50304},
		{"50304x512x256_TN", true, false, 50304, 512, 256},
		{"2048x2048x2048_TT", true, true, 2048, 2048, 2048},
	} {
		b.Run(s.name, func(b *testing.B) { benchShape(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}
