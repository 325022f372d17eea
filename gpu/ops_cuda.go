//go:build cuda

package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// The backend.Backend operations; each checks the sizes it will touch (a
// short buffer would silently corrupt device memory) and launches one to
// three kernels.

func (b *cudaBackend) Add(dst, src backend.Buffer) {
	b.enter()
	defer b.exit()
	n := int64(b.buf(src).n)
	b.need(dst, int(n), "Add destination")
	b.grid(kAdd, n, argP(b.ptr(dst)), argP(b.ptr(src)), argI(n))
}

// checkIDs panics on an id outside [0, rows), as indexing does on the CPU.
func checkIDs(ids []int, rows int, what string) {
	for r, id := range ids {
		if id < 0 || id >= rows {
			panic(fmt.Sprintf("gpu: %s: id %d at row %d outside [0, %d)", what, id, r, rows))
		}
	}
}

func (b *cudaBackend) Embedding(out backend.Buffer, w *tensor.Tensor, ids []int) {
	b.enter()
	defer b.exit()
	dim, rows := w.Cols(), len(ids)
	checkIDs(ids, w.Rows(), "Embedding")
	b.need(out, rows*dim, "Embedding output")
	raw := b.weight(w)
	dev := b.upInts(ints64(ids))
	b.grid(kEmbedding, int64(rows*dim), argP(b.ptr(out)), argP(raw.blk.ptr), argI(int64(raw.dt)), argP(dev[0]),
		argI(int64(rows)), argI(int64(dim)))
}

func (b *cudaBackend) EmbeddingBackward(dw, dout backend.Buffer, ids []int, dim int) {
	b.enter()
	defer b.exit()
	rows := len(ids)
	checkIDs(ids, b.buf(dw).n/max(dim, 1), "EmbeddingBackward")
	b.need(dout, rows*dim, "EmbeddingBackward dout")
	dev := b.upInts(ints64(ids))
	b.grid(kEmbeddingBackward, int64(dim), argP(b.ptr(dw)), argP(b.ptr(dout)), argP(dev[0]), argI(int64(rows)), argI(int64(dim)))
}

// gemm runs a row-major GEMM of precision p (gemmPrec) on cuBLAS, or on the
// built-in kernel (precF32 only).
func (b *cudaBackend) gemm(g gemmCall, p gemmPrec, pa, pb, pc cu.DevicePtr) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if b.blas != nil {
		if err := b.blas.gemm(g, p, uintptr(pa), uintptr(pb), uintptr(pc)); err != nil {
			b.fail("GEMM", err)
		}
		return
	}
	if p != precF32 {
		panic(fmt.Sprintf("gpu: built-in GEMM asked for precision %d", p)) // gemmPrec gives it precF32 only
	}
	gy := (g.m + 63) / 64
	if gy > 65535 {
		panic(fmt.Sprintf("gpu: built-in GEMM: %d rows exceed the kernel's grid (65535 tiles of 64)", g.m))
	}
	b.launch(kSgemm, (g.n+63)/64, gy, 256, argB(g.transA), argB(g.transB), argI(int64(g.m)), argI(int64(g.n)),
		argI(int64(g.k)), argF(float64(g.alpha)), argP(pa), argI(int64(g.lda)), argP(pb), argI(int64(g.ldb)),
		argF(float64(g.beta)), argP(pc), argI(int64(g.ldc)))
}

func (b *cudaBackend) MatMul(out, x backend.Buffer, w *tensor.Tensor, rows int, accumulate bool) {
	b.enter()
	defer b.exit()
	nOut, nIn := w.Rows(), w.Cols()
	b.need(x, rows*nIn, "MatMul input")
	b.need(out, rows*nOut, "MatMul output")
	p := b.gemmPrec(w.DType)
	X, W := b.actOperand(x, rows*nIn, p, 0), b.weightOperand(w, p)
	b.gemm(matMulCall(rows, nOut, nIn, accumulate), p, X, W, b.ptr(out))
}

func (b *cudaBackend) MatMulBackward(dx, dw, dout, x backend.Buffer, w *tensor.Tensor, rows int, accumulateDX bool) {
	b.enter()
	defer b.exit()
	nOut, nIn := w.Rows(), w.Cols()
	b.need(dout, rows*nOut, "MatMulBackward dout")
	if dx == nil && dw == nil {
		return
	}
	// dout is the A operand of both GEMMs: rounded (bf16) once for both.
	p := b.gemmPrec(w.DType)
	dO := b.actOperand(dout, rows*nOut, p, 0)
	if dx != nil {
		b.need(dx, rows*nIn, "MatMulBackward dx")
		b.gemm(matMulDXCall(rows, nOut, nIn, accumulateDX), p, dO, b.weightOperand(w, p), b.ptr(dx))
	}
	if dw != nil {
		b.need(dw, nOut*nIn, "MatMulBackward dw")
		b.need(x, rows*nIn, "MatMulBackward x")
		b.gemm(matMulDWCall(rows, nOut, nIn), p, dO, b.actOperand(x, rows*nIn, p, 1), b.ptr(dw))
	}
}

func (b *cudaBackend) RMSNorm(out, rstd, x backend.Buffer, w *tensor.Tensor, rows, dim int, eps float64) {
	b.enter()
	defer b.exit()
	b.need(x, rows*dim, "RMSNorm input")
	b.need(out, rows*dim, "RMSNorm output")
	b.need(rstd, rows, "RMSNorm rstd")
	raw := b.weight(w)
	b.launch(kRMSNorm, rows, 1, 256, argP(b.ptr(out)), argP(b.ptr(rstd)), argP(b.ptr(x)), argP(raw.blk.ptr),
		argI(int64(raw.dt)), argI(int64(dim)), argF(eps))
}

func (b *cudaBackend) RMSNormBackward(dx, dw, dout, x, rstd backend.Buffer, w *tensor.Tensor, rows, dim int) {
	b.enter()
	defer b.exit()
	for _, c := range []struct {
		buf  backend.Buffer
		n    int
		what string
	}{{dx, rows * dim, "dx"}, {dw, dim, "dw"}, {dout, rows * dim, "dout"}, {x, rows * dim, "x"}, {rstd, rows, "rstd"}} {
		b.need(c.buf, c.n, "RMSNormBackward "+c.what)
	}
	raw := b.weight(w)
	b.launch(kRMSNormBackwardDX, rows, 1, 256, argP(b.ptr(dx)), argP(b.ptr(dout)), argP(b.ptr(x)), argP(b.ptr(rstd)),
		argP(raw.blk.ptr), argI(int64(raw.dt)), argI(int64(dim)))
	b.grid(kRMSNormBackwardDW, int64(dim), argP(b.ptr(dw)), argP(b.ptr(dout)), argP(b.ptr(x)), argP(b.ptr(rstd)),
		argI(int64(rows)), argI(int64(dim)))
}

func (b *cudaBackend) Rope(x, cos, sin backend.Buffer, rows, heads, headDim, rotDim, pos0 int, interleaved, inverse bool) {
	b.enter()
	defer b.exit()
	half := rotDim / 2
	if rotDim%2 != 0 || rotDim <= 0 || rotDim > headDim || half > 1024 {
		panic(fmt.Sprintf("gpu: Rope: rotary dimension %d must be even, positive, at most the head dimension %d and at most 2048", rotDim, headDim))
	}
	b.need(x, rows*heads*headDim, "Rope input")
	b.need(cos, (pos0+rows)*half, "Rope cos table")
	b.need(sin, (pos0+rows)*half, "Rope sin table")
	b.launch(kRope, rows*heads, 1, (half+31)/32*32, argP(b.ptr(x)), argP(b.ptr(cos)), argP(b.ptr(sin)),
		argI(int64(heads)), argI(int64(headDim)), argI(int64(rotDim)), argI(int64(pos0)), argB(interleaved), argB(inverse))
}

// checkHeads panics on head layouts the attention kernels do not support.
func checkHeads(heads, kvHeads, headDim int) {
	if kvHeads <= 0 || heads%kvHeads != 0 {
		panic(fmt.Sprintf("gpu: attention: %d query heads are not a multiple of %d kv heads", heads, kvHeads))
	}
	if headDim <= 0 || headDim > attMaxHeadDim {
		panic(fmt.Sprintf("gpu: attention: head dimension %d outside the kernels' 1…%d", headDim, attMaxHeadDim))
	}
	if heads > 65535 {
		panic(fmt.Sprintf("gpu: attention: %d heads exceed the grid's 65535", heads))
	}
}

// Attention saves, when saved is non-nil, each query row's log-sum-exp
// [heads, tq] for AttentionBackward, which recomputes the probabilities from
// it: nothing of size [heads, tq, tk] is written or needed (see
// backend.AttentionSaver).
func (b *cudaBackend) Attention(out, saved, q, k, v backend.Buffer, tq, tk, heads, kvHeads, headDim, window int) {
	b.enter()
	defer b.exit()
	if saved != nil {
		b.need(saved, heads*tq, "Attention saved log-sum-exp")
	}
	b.attention(out, nil, saved, q, k, v, tq, tk, heads, kvHeads, headDim, window)
}

var _ backend.AttentionSaver = (*cudaBackend)(nil)

// AttentionSavedLen implements backend.AttentionSaver: one log-sum-exp per
// query row and head.
func (b *cudaBackend) AttentionSavedLen(heads, tq, tk int) int { return heads * tq }

// AttentionProbs implements backend.AttentionSaver: the forward kernel also
// writes the probabilities [heads, tq, tk], only for a caller that asks.
func (b *cudaBackend) AttentionProbs(out, probs, q, k, v backend.Buffer, tq, tk, heads, kvHeads, headDim, window int) {
	b.enter()
	defer b.exit()
	b.need(probs, heads*tq*tk, "AttentionProbs probs")
	b.attention(out, probs, nil, q, k, v, tq, tk, heads, kvHeads, headDim, window)
}

// attention launches the forward kernel; probs and lse may be nil.
func (b *cudaBackend) attention(out, probs, lse, q, k, v backend.Buffer, tq, tk, heads, kvHeads, headDim, window int) {
	checkHeads(heads, kvHeads, headDim)
	if tq > tk {
		panic(fmt.Sprintf("gpu: Attention: %d queries but only %d keys", tq, tk))
	}
	b.need(q, tq*heads*headDim, "Attention q")
	b.need(k, tk*kvHeads*headDim, "Attention k")
	b.need(v, tk*kvHeads*headDim, "Attention v")
	b.need(out, tq*heads*headDim, "Attention output")
	b.launch(kAttention, tq, heads, attThreads, argP(b.ptr(out)), argP(b.ptr(probs)), argP(b.ptr(lse)), argP(b.ptr(q)),
		argP(b.ptr(k)), argP(b.ptr(v)), argI(int64(tq)), argI(int64(tk)), argI(int64(heads)), argI(int64(kvHeads)),
		argI(int64(headDim)), argI(int64(window)), attScale(headDim))
}

// attScale is the kernels' score scale 1/√headDim, rounded to float32 as
// the CPU backend's.
func attScale(headDim int) arg { return argF(float64(float32(1 / math.Sqrt(float64(headDim))))) }

// AttentionBackward recomputes the probabilities from q, k and the saved
// log-sum-exp (flash attention): one kernel per query row and head computes
// D_i = Σ_j P_ij dP_ij into the [heads, t] scratch and dq, a second per key
// row and kv head dk and dv. Memory beyond the operands: 4·heads·t bytes.
func (b *cudaBackend) AttentionBackward(dq, dk, dv, dout, q, k, v, saved backend.Buffer, t, heads, kvHeads, headDim, window int) {
	b.enter()
	defer b.exit()
	checkHeads(heads, kvHeads, headDim)
	qn, kn := t*heads*headDim, t*kvHeads*headDim
	for _, c := range []struct {
		buf  backend.Buffer
		n    int
		what string
	}{{dq, qn, "dq"}, {dk, kn, "dk"}, {dv, kn, "dv"}, {dout, qn, "dout"}, {q, qn, "q"}, {k, kn, "k"}, {v, kn, "v"}, {saved, heads * t, "saved log-sum-exp"}} {
		b.need(c.buf, c.n, "AttentionBackward "+c.what)
	}
	dd := b.scratch(&b.attn, 4*int64(heads)*int64(t))
	T, H, KV, D, W := argI(int64(t)), argI(int64(heads)), argI(int64(kvHeads)), argI(int64(headDim)), argI(int64(window))
	Q, K, V, dO, lse := argP(b.ptr(q)), argP(b.ptr(k)), argP(b.ptr(v)), argP(b.ptr(dout)), argP(b.ptr(saved))
	b.launch(kAttentionBackwardDQ, t, heads, attThreads, argP(b.ptr(dq)), argP(dd), dO, Q, K, V, lse, T, H, KV, D, W,
		attScale(headDim))
	b.launch(kAttentionBackwardDKV, t, kvHeads, attThreads, argP(b.ptr(dk)), argP(b.ptr(dv)), dO, Q, K, V, lse, argP(dd),
		T, H, KV, D, W, attScale(headDim))
}

func (b *cudaBackend) SwiGLU(out, gate, up backend.Buffer, n int) {
	b.enter()
	defer b.exit()
	b.need(out, n, "SwiGLU output")
	b.need(gate, n, "SwiGLU gate")
	b.need(up, n, "SwiGLU up")
	b.grid(kSwiGLU, int64(n), argP(b.ptr(out)), argP(b.ptr(gate)), argP(b.ptr(up)), argI(int64(n)))
}

func (b *cudaBackend) SwiGLUBackward(dgate, dup, dout, gate, up backend.Buffer, n int) {
	b.enter()
	defer b.exit()
	for _, x := range []backend.Buffer{dgate, dup, dout, gate, up} {
		b.need(x, n, "SwiGLUBackward operand")
	}
	b.grid(kSwiGLUBackward, int64(n), argP(b.ptr(dgate)), argP(b.ptr(dup)), argP(b.ptr(dout)), argP(b.ptr(gate)),
		argP(b.ptr(up)), argI(int64(n)))
}

func (b *cudaBackend) CrossEntropy(dlogits, logits backend.Buffer, targets []int, rows, vocab int) float64 {
	b.enter()
	defer b.exit()
	if len(targets) < rows {
		panic(fmt.Sprintf("gpu: CrossEntropy: %d targets for %d rows", len(targets), rows))
	}
	for r := 0; r < rows; r++ {
		if targets[r] >= vocab {
			panic(fmt.Sprintf("backend: target %d at row %d outside vocabulary of %d", targets[r], r, vocab))
		}
	}
	b.need(logits, rows*vocab, "CrossEntropy logits")
	if dlogits != nil {
		b.need(dlogits, rows*vocab, "CrossEntropy dlogits")
	}
	if rows == 0 {
		return 0
	}
	dev := b.upInts(ints64(targets[:rows]))
	nll := b.scratch(&b.small, 8*int64(rows))
	b.launch(kCrossEntropy, rows, 1, 256, argP(b.ptr(dlogits)), argP(nll), argP(b.ptr(logits)), argP(dev[0]), argI(int64(vocab)))
	host := make([]float64, rows)
	if err := cu.MemcpyDtoH(unsafe.Pointer(&host[0]), nll, 8*int64(rows)); err != nil {
		b.fail("CrossEntropy (reading the losses)", err)
	}
	var total float64 // in row order, as the CPU backend: deterministic
	for _, v := range host {
		total += v
	}
	return total
}
