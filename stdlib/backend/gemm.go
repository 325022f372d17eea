package backend

import (
	"unsafe"

	"esa/stdlib/blas"
)

// float is the compute precision of a CPU backend.
type float interface{ ~float32 | ~float64 }

// gemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, op
// transposing when tA/tB is set; op(A) is m×k, op(B) is k×n, C is m×n.
// beta = 0 overwrites C (its old contents, even NaN, are ignored). par lets
// the product use all cores; callers that already run one goroutine per head
// pass false.
//
// float32 goes to sgemm, the one place that names the SIMD GEMM; float64 uses
// the plain reference loops (the float64 path is for checks, not speed).
func gemm[T float](par, tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	var zero T
	if _, ok := any(zero).(float32); ok {
		sgemm(par, tA, tB, m, n, k, float32(alpha), asF32(a), lda, asF32(b), ldb, float32(beta), asF32(c), ldc)
		return
	}
	gemmRef(par, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// asF32 reinterprets a []T known to be []float32 without boxing it.
func asF32[T float](s []T) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&s[0])), len(s))
}

// sgemm is the float32 GEMM every model matmul goes through. blas.Sgemm
// decides its own threading from the product's size (small per-head products
// stay on the calling goroutine), so par is only a hint here.
func sgemm(par, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	_ = par
	blas.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmRef is the straightforward row-by-row GEMM: exact IEEE semantics (no
// skipped zeros, so an Inf weight still poisons its outputs), inner loops
// over contiguous memory, rows split across cores when par.
func gemmRef[T float](par, tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	rows := func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			crow := c[i*ldc : i*ldc+n]
			switch beta {
			case 0:
				clear(crow)
			case 1:
			default:
				for j := range crow {
					crow[j] *= beta
				}
			}
			if !tB {
				for p := 0; p < k; p++ {
					var aip T
					if tA {
						aip = a[p*lda+i]
					} else {
						aip = a[i*lda+p]
					}
					aip *= alpha
					brow := b[p*ldb : p*ldb+n]
					for j, bv := range brow {
						crow[j] += aip * bv
					}
				}
				continue
			}
			for j := 0; j < n; j++ {
				brow := b[j*ldb : j*ldb+k]
				var s T
				if !tA {
					arow := a[i*lda : i*lda+k]
					for p, av := range arow {
						s += av * brow[p]
					}
				} else {
					for p, bv := range brow {
						s += a[p*lda+i] * bv
					}
				}
				crow[j] += alpha * s
			}
		}
	}
	if !par {
		rows(0, m)
		return
	}
	// Enough work per goroutine to amortise starting it.
	grain := max(1, (1<<15)/max(1, n*k))
	parallelFor(m, grain, rows)
}
