package gpu

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
