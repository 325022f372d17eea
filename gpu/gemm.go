package gpu

import (
	"fmt"
	"strings"

	"esa/stdlib/tensor"
)

// gemmCall is a row-major GEMM, C[M,N] = alpha·op(A)·op(B) + beta·C with
// op(A) [M,K] and op(B) [K,N]; op(X)[r][c] is X[c·ldx+r] when transX, else
// X[r·ldx+c]. The backend's MatMul and MatMulBackward are written in it.
type gemmCall struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
}

// cublasArgs is a column-major cublasSgemm call: C = alpha·op(A)·op(B) +
// beta·C, with op = transpose where trans is set, A m×k, B k×n, C m×n.
type cublasArgs struct {
	transA, transB bool
	m, n, k        int
	// a and b say which row-major operand (0: A, 1: B) cuBLAS gets as its
	// A and its B.
	a, lda int
	b, ldb int
	ldc    int
}

// toCublas maps a row-major GEMM onto column-major cuBLAS: a row-major
// matrix is the column-major view of its transpose, so C = op(A)·op(B)
// becomes Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. the operands swap (B first), M and N
// swap, and each keeps its own transpose flag.
func toCublas(g gemmCall) cublasArgs {
	return cublasArgs{
		transA: g.transB, transB: g.transA,
		m: g.n, n: g.m, k: g.k,
		a: 1, lda: g.ldb,
		b: 0, ldb: g.lda,
		ldc: g.ldc,
	}
}

// matMulCall is backend.MatMul, out[rows,nOut] = x[rows,nIn]·wᵀ (+ out).
func matMulCall(rows, nOut, nIn int, accumulate bool) gemmCall {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	return gemmCall{transB: true, m: rows, n: nOut, k: nIn, alpha: 1, lda: nIn, ldb: nIn, beta: beta, ldc: nOut}
}

// matMulDXCall is dx[rows,nIn] = dout[rows,nOut]·w[nOut,nIn] (+ dx); A is
// dout, B is w.
func matMulDXCall(rows, nOut, nIn int, accumulate bool) gemmCall {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	return gemmCall{m: rows, n: nIn, k: nOut, alpha: 1, lda: nOut, ldb: nIn, beta: beta, ldc: nIn}
}

// matMulDWCall is dw[nOut,nIn] += doutᵀ·x; A is dout [rows,nOut], B is x.
func matMulDWCall(rows, nOut, nIn int) gemmCall {
	return gemmCall{transA: true, m: nOut, n: nIn, k: rows, alpha: 1, lda: nOut, ldb: nIn, beta: 1, ldc: nIn}
}

// gemmMode is the GEMM precision a backend was opened with (ESA_GPU_GEMM).
type gemmMode uint8

const (
	// gemmFP32: float32 operands and arithmetic (cublasSgemm), the results
	// of the float32 CPU backend to rounding. The default.
	gemmFP32 gemmMode = iota
	// gemmTF32: float32 operands multiplied on TF32 tensor cores (inputs
	// with 10 mantissa bits, float32 accumulation).
	gemmTF32
	// gemmBF16: GEMMs of BF16-stored weights take the weight as it is
	// stored and the float32 activations rounded to bf16, accumulating in
	// float32 on the tensor cores; GEMMs of other weights run as gemmTF32.
	gemmBF16
)

// gemmModeEnv is the environment variable that chooses the mode.
const gemmModeEnv = "ESA_GPU_GEMM"

var gemmModeNames = [...]string{gemmFP32: "fp32", gemmTF32: "tf32", gemmBF16: "bf16"}

func (m gemmMode) String() string { return gemmModeNames[m] }

// parseGEMMMode reads a value of ESA_GPU_GEMM; empty is the default fp32.
func parseGEMMMode(s string) (gemmMode, error) {
	if s == "" {
		return gemmFP32, nil
	}
	for m, name := range gemmModeNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return gemmMode(m), nil
		}
	}
	return 0, fmt.Errorf("%s=%q is not a GEMM precision: valid are fp32 (the default: float32, as the CPU backend), "+
		"tf32 (TF32 tensor cores), bf16 (bf16 operands for BF16-stored weights, TF32 for the others)", gemmModeEnv, s)
}

// gemmPrec is how one GEMM reads and multiplies its operands.
type gemmPrec uint8

const (
	precF32  gemmPrec = iota // float32 operands, float32 arithmetic: cublasSgemm or the built-in kernel
	precTF32                 // float32 operands, cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32
	precBF16                 // bf16 operands, cublasGemmEx with CUBLAS_COMPUTE_32F (float32 accumulation)
)

// prec is the precision in mode m of the GEMMs that involve a weight stored
// as dt: MatMul and both GEMMs of MatMulBackward. The weight gradient
// doutᵀ·x involves no weight values but follows the weight's dtype too, so a
// model is in one precision throughout.
//
// F16 weights in bf16 mode run in TF32 rather than with activations rounded
// to fp16: TF32 has fp16's 10 mantissa bits, so the products are as precise,
// but float32's 8-bit exponent, where fp16 activations overflow above 65504
// and backward gradients underflow below 6·10⁻⁸ (fp16 training needs loss
// scaling for that, which a sensitivity backward pass has no place for). The
// cost is the weight's widening and TF32's half rate of bf16's on the tensor
// cores, for checkpoints that are rarely stored in F16. F32 and F64 weights
// are not rounded to bf16 either: the mode speeds up bf16 checkpoints, it
// does not lower the precision of others below TF32.
func (m gemmMode) prec(dt tensor.DType) gemmPrec {
	switch {
	case m == gemmFP32:
		return precF32
	case m == gemmBF16 && dt == tensor.BF16:
		return precBF16
	}
	return precTF32
}

// cuBLAS enum values (library_types.h, cublas_api.h) of the GemmEx calls.
const (
	cudaR32F             = 0  // CUDA_R_32F
	cudaR16BF            = 14 // CUDA_R_16BF
	cublasCompute32F     = 68 // CUBLAS_COMPUTE_32F
	cublasCompute32FTF32 = 77 // CUBLAS_COMPUTE_32F_FAST_TF32
	cublasGemmDefault    = -1 // CUBLAS_GEMM_DEFAULT
)

// gemmExTypes returns the cudaDataType of each row-major operand (A, B) and
// the compute type of a cublasGemmEx call of precision p; toCublas's a and b
// say which of them cuBLAS gets as its A and its B.
func gemmExTypes(p gemmPrec) (types [2]int, compute int) {
	if p == precBF16 {
		return [2]int{cudaR16BF, cudaR16BF}, cublasCompute32F
	}
	return [2]int{cudaR32F, cudaR32F}, cublasCompute32FTF32
}
