package gpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"esa/stdlib/tensor"
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

// TestGEMMModes: ESA_GPU_GEMM's values, the default, the error listing the
// valid ones, and the precision each mode gives each weight dtype.
func TestGEMMModes(t *testing.T) {
	for s, want := range map[string]gemmMode{"": gemmFP32, "fp32": gemmFP32, "tf32": gemmTF32, "bf16": gemmBF16, "BF16": gemmBF16, " tf32 ": gemmTF32} {
		if m, err := parseGEMMMode(s); err != nil || m != want {
			t.Errorf("parseGEMMMode(%q) = %v, %v; want %v", s, m, err, want)
		}
	}
	for _, bad := range []string{"fp16", "bfloat16", "32", "fp32,bf16"} {
		_, err := parseGEMMMode(bad)
		if err == nil {
			t.Errorf("parseGEMMMode(%q) accepted", bad)
			continue
		}
		for _, s := range []string{"ESA_GPU_GEMM", bad, "fp32", "tf32", "bf16"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("parseGEMMMode(%q): error %q does not name %q", bad, err, s)
			}
		}
	}
	for m, name := range gemmModeNames {
		if gemmMode(m).String() != name {
			t.Errorf("mode %d prints %q, want %q", m, gemmMode(m), name)
		}
	}
	want := map[gemmMode][4]gemmPrec{ // F32, BF16, F16, F64
		gemmFP32: {precF32, precF32, precF32, precF32},
		gemmTF32: {precTF32, precTF32, precTF32, precTF32},
		gemmBF16: {precTF32, precBF16, precTF32, precTF32},
	}
	for m, precs := range want {
		for i, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.F64} {
			if got := m.prec(dt); got != precs[i] {
				t.Errorf("%s mode, %s weight: precision %d, want %d", m, dt, got, precs[i])
			}
		}
	}
	if ty, c := gemmExTypes(precBF16); ty != [2]int{cudaR16BF, cudaR16BF} || c != cublasCompute32F {
		t.Errorf("bf16 GemmEx: types %v compute %d", ty, c)
	}
	if ty, c := gemmExTypes(precTF32); ty != [2]int{cudaR32F, cudaR32F} || c != cublasCompute32FTF32 {
		t.Errorf("tf32 GemmEx: types %v compute %d", ty, c)
	}
}
