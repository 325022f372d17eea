package gpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refCublasSgemm is cublasSgemm's definition (column-major, element (r, c)
// of an m×n matrix X at X[r + c·ld]) in float64.
func refCublasSgemm(transA, transB bool, m, n, k int, alpha float64, A []float32, lda int, B []float32, ldb int, beta float64, C []float32, ldc int) {
	at := func(X []float32, ld int, trans bool, r, c int) float64 {
		if trans {
			return float64(X[c+r*ld])
		}
		return float64(X[r+c*ld])
	}
	for r := 0; r < m; r++ {
		for c := 0; c < n; c++ {
			var s float64
			for l := 0; l < k; l++ {
				s += at(A, lda, transA, r, l) * at(B, ldb, transB, l, c)
			}
			C[r+c*ldc] = float32(alpha*s + beta*float64(C[r+c*ldc]))
		}
	}
}

// viaCublas runs g the way cublas.gemm does: through toCublas, choosing the
// operands by its a and b fields.
func viaCublas(g gemmCall, A, B, C []float32) {
	c := toCublas(g)
	ops := [2][]float32{A, B}
	refCublasSgemm(c.transA, c.transB, c.m, c.n, c.k, float64(g.alpha), ops[c.a], c.lda, ops[c.b], c.ldb, float64(g.beta), C, c.ldc)
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestMatMulCallsThroughCublasMapping checks the three GEMMs of MatMul and
// MatMulBackward, mapped to column-major cuBLAS, against their definitions
// in the Backend interface (W stored [out, in]).
func TestMatMulCallsThroughCublasMapping(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows, nOut, nIn := 5, 7, 3
	x, w, dy := randVec(r, rows*nIn), randVec(r, nOut*nIn), randVec(r, rows*nOut)
	for _, acc := range []bool{false, true} {
		out := randVec(r, rows*nOut)
		want := make([]float64, rows*nOut)
		for i := 0; i < rows; i++ {
			for o := 0; o < nOut; o++ {
				var s float64
				for j := 0; j < nIn; j++ {
					s += float64(x[i*nIn+j]) * float64(w[o*nIn+j])
				}
				if acc {
					s += float64(out[i*nOut+o])
				}
				want[i*nOut+o] = s
			}
		}
		viaCublas(matMulCall(rows, nOut, nIn, acc), x, w, out)
		closeTo(t, "MatMul out", out, want)

		dx := randVec(r, rows*nIn)
		wantDX := make([]float64, rows*nIn)
		for i := 0; i < rows; i++ {
			for j := 0; j < nIn; j++ {
				var s float64
				for o := 0; o < nOut; o++ {
					s += float64(dy[i*nOut+o]) * float64(w[o*nIn+j])
				}
				if acc {
					s += float64(dx[i*nIn+j])
				}
				wantDX[i*nIn+j] = s
			}
		}
		viaCublas(matMulDXCall(rows, nOut, nIn, acc), dy, w, dx)
		closeTo(t, "MatMulBackward dx", dx, wantDX)
	}
	dw := randVec(r, nOut*nIn)
	wantDW := make([]float64, nOut*nIn)
	for o := 0; o < nOut; o++ {
		for j := 0; j < nIn; j++ {
			s := float64(dw[o*nIn+j])
			for i := 0; i < rows; i++ {
				s += float64(dy[i*nOut+o]) * float64(x[i*nIn+j])
			}
			wantDW[o*nIn+j] = s
		}
	}
	viaCublas(matMulDWCall(rows, nOut, nIn), dy, x, dw)
	closeTo(t, "MatMulBackward dw", dw, wantDW)
}
