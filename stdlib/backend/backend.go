// Package backend is the seam between model code and the hardware that runs
// it: the operations a transformer forward and backward pass are made of, on
// buffers that the backend owns.
//
// Model families (package model) are written once against Backend. The CPU
// backends here implement it in Go: CPU() computes in float32 with a SIMD
// GEMM, CPU64() in float64 as the reference for finite-difference checks. A
// CUDA backend implements the same interface on device memory.
//
// # What a GPU backend must implement
//
// The level is deliberately coarse — one call per layer piece, not per
// element — so that each call maps to one or a few kernels and the model code
// never loops over elements:
//
//   - Memory: Alloc (zeroed), Slice (a view sharing memory, offset in
//     elements), Zero, Upload/Download between host float32 and device,
//     FromHost (a buffer holding a host slice's contents; CPU backends alias
//     it), Copy and Add (residual stream).
//   - Weights arrive as *tensor.Tensor in their stored dtype (F32, BF16, F16,
//     F64). A backend may keep a converted device copy per tensor; after the
//     caller changes a tensor's bytes in place (ESA perturbations) it calls
//     Invalidate(t), and the next use must see the new values. The CPU backends
//     keep no copies: F32 storage is read in place, other dtypes are converted
//     per matrix into reused scratch at use time. A weight may be a row view
//     of another tensor (its Data a block of the other's bytes: Phi-3's q, k,
//     v in the fused qkv_proj); the model invalidates each view with its
//     parameter, so keying copies by *tensor.Tensor stays correct.
//   - Embedding / EmbeddingBackward: row gather and scatter-add by token id.
//   - MatMul (x·Wᵀ, W stored [out, in] as in PyTorch's nn.Linear) and
//     MatMulBackward (dx = dy·W, dW += dyᵀ·x): the GEMMs, ~all of the FLOPs.
//   - RMSNorm / RMSNormBackward (saving 1/rms per row for the backward).
//   - Rope (both layouts, all or the first rotDim dims of each head;
//     inverse=true rotates back, which is the backward).
//   - Attention (causal, grouped-query, optionally within a sliding window,
//     queries at the last tq of tk positions so one call serves training,
//     prefill and one-token decode; it saves the backward's state when asked)
//     and AttentionBackward.
//   - SwiGLU / SwiGLUBackward, CrossEntropy (loss and its logit gradient in
//     one pass over the vocabulary).
//   - GPT-NeoX: LayerNorm / LayerNormBackward (with bias), AddBias /
//     BiasBackward, GELU / GELUBackward (exact, erf), SplitQKV / MergeQKV
//     (the per-head fused q/k/v layout).
//   - Mixture of experts: GatherRows / ScatterAddRows (a token's row to and
//     from an expert's batch, scaled by its routing weight) and RowDots (the
//     routing weights' gradient). Routing itself (softmax and top-k over a
//     few experts per token) runs on the host from downloaded router logits.
//
// Gradients of weights accumulate (+=) so that sequences can be processed one
// at a time with bounded activation memory. By default the model hands a
// backend the caller's host gradient slices through FromHost at the start of
// a backward and reads them back with Download at its end (free on the CPU,
// where they alias; a full copy each way per sequence on a device). Callers
// that accumulate over many sequences make their gradients resident
// (model.Grads.Resident): the model then keeps the buffers FromHost returned
// across passes and downloads them only when asked (Grads.Sync), so a
// backend needs no cache of its own for them.
//
// Memory: a kept forward stores per layer what Attention saves for the
// backward next to the [T, width] activations: on the CPU backends the
// attention probabilities [heads, T, T]. A backend may instead store only
// each row's log-sum-exp and recompute the probabilities in the backward
// (flash attention, the CUDA backend); it then implements AttentionSaver, and
// AttentionSavedLen says how large the saved buffer must be ([heads, T]).
//
// Ops may run concurrently on different buffers (the model runs passes from
// several goroutines); the CPU backends are safe for that.
package backend

import "esa/stdlib/tensor"

// Buffer is an array of numbers in the backend's compute precision, living
// wherever the backend keeps them (host memory for CPU, device memory for a
// GPU). Buffers are created by the backend that uses them.
type Buffer interface {
	Len() int
}

// Backend is the set of operations the model families are written against.
//
// Shapes are row-major. "rows" counts tokens; every op reads and writes the
// first rows·cols elements of its buffers, so a buffer allocated for the
// longest sequence serves shorter ones too. Weight matrices are [out, in].
type Backend interface {
	// Name says what runs the ops ("cpu-f32", "cpu-f64", "cuda:0").
	Name() string

	// Alloc returns a zeroed buffer of n elements.
	Alloc(n int) Buffer
	// Slice returns the elements [off, off+n) of b as a buffer sharing memory.
	Slice(b Buffer, off, n int) Buffer
	// Zero sets every element of b to 0.
	Zero(b Buffer)
	// Upload copies src into the first len(src) elements of dst.
	Upload(dst Buffer, src []float32)
	// Download copies the first len(dst) elements of src into dst.
	Download(dst []float32, src Buffer)
	// FromHost returns a buffer holding h's values. CPU float32 backends
	// alias h (no copy); others copy, so read results back with Download.
	FromHost(h []float32) Buffer
	// Copy sets dst = src for the first src.Len() elements.
	Copy(dst, src Buffer)
	// Add sets dst += src for the first src.Len() elements.
	Add(dst, src Buffer)

	// Invalidate tells the backend that t's stored bytes changed, so any
	// converted copy it keeps must be dropped.
	Invalidate(t *tensor.Tensor)

	// Embedding gathers out[r] = w[ids[r]] for a [vocab, dim] table.
	Embedding(out Buffer, w *tensor.Tensor, ids []int)
	// EmbeddingBackward scatters dw[ids[r]] += dout[r].
	EmbeddingBackward(dw, dout Buffer, ids []int, dim int)

	// MatMul sets out = x·wᵀ (or adds it when accumulate): x is [rows, in],
	// w is [out, in], out is [rows, out].
	MatMul(out, x Buffer, w *tensor.Tensor, rows int, accumulate bool)
	// MatMulBackward computes dx = dout·w (added to dx when accumulateDX)
	// and dw += doutᵀ·x. A nil dx or dw skips that product.
	MatMulBackward(dx, dw, dout, x Buffer, w *tensor.Tensor, rows int, accumulateDX bool)

	// RMSNorm sets out = w ⊙ (x · rstd) with rstd = 1/sqrt(mean(x²)+eps)
	// per row of length dim, storing rstd [rows].
	RMSNorm(out, rstd, x Buffer, w *tensor.Tensor, rows, dim int, eps float64)
	// RMSNormBackward adds the input gradient to dx and the gain gradient
	// to dw, given the forward's x and rstd.
	RMSNormBackward(dx, dw, dout, x, rstd Buffer, w *tensor.Tensor, rows, dim int)

	// Rope rotates the first rotDim dims of every head of x [rows,
	// heads·headDim] in place (rotDim = headDim but for partial rotary, as in
	// GPT-NeoX; the other dims pass through); row r is at position pos0+r and
	// uses cos/sin [positions, rotDim/2] tables. Pairs are (i, i+rotDim/2)
	// (Hugging Face rotate_half), or with interleaved (2i, 2i+1) (llama2.c) —
	// and then the rotated pairs are written in half-split order, so q and k
	// always leave Rope in one layout. inverse is the backward: it rotates by
	// the negative angle, reading half-split and, with interleaved, writing
	// interleaved.
	Rope(x, cos, sin Buffer, rows, heads, headDim, rotDim, pos0 int, interleaved, inverse bool)

	// Attention computes causal softmax(q·kᵀ/sqrt(headDim))·v with grouped
	// query heads (heads/kvHeads query heads share one kv head). q is
	// [tq, heads·headDim], k and v are [tk, kvHeads·headDim]; query row i is
	// at position p = tk-tq+i and sees keys j ≤ p, and with window > 0 only
	// p−window < j ≤ p (Mistral's sliding window; 0 means none). out is
	// [tq, heads·headDim]. probs, when non-nil, receives what
	// AttentionBackward needs, AttentionSavedLen(be, heads, tq, tk) elements:
	// here the probabilities [heads, tq, tk], zero outside each row's keys;
	// an AttentionSaver saves less (AttentionProbs asks for probabilities).
	Attention(out, probs, q, k, v Buffer, tq, tk, heads, kvHeads, headDim, window int)
	// AttentionBackward sets dq, dk, dv (overwriting) from dout and the
	// forward's q, k, v and saved probs, for tq = tk = t and the forward's
	// window.
	AttentionBackward(dq, dk, dv, dout, q, k, v, probs Buffer, t, heads, kvHeads, headDim, window int)

	// SwiGLU sets out = silu(gate) ⊙ up over n elements.
	SwiGLU(out, gate, up Buffer, n int)
	// SwiGLUBackward sets dgate and dup (overwriting) from dout.
	SwiGLUBackward(dgate, dup, dout, gate, up Buffer, n int)

	// CrossEntropy returns Σ over rows with targets[r] ≥ 0 of
	// −log softmax(logits[r])[targets[r]], and, when dlogits is non-nil, sets
	// dlogits to the gradient of that sum (rows with a negative target get 0).
	// dlogits may be logits itself (the gradient overwrites the logits).
	CrossEntropy(dlogits, logits Buffer, targets []int, rows, vocab int) float64

	// LayerNorm sets out = (x − mean)·rstd ⊙ w + b per row of length dim
	// (nn.LayerNorm: biased variance, rstd = 1/sqrt(var+eps)), storing mean
	// and rstd [rows] for the backward.
	LayerNorm(out, mean, rstd, x Buffer, w, b *tensor.Tensor, rows, dim int, eps float64)
	// LayerNormBackward adds the input gradient to dx and the gain and bias
	// gradients to dw and db, given the forward's x, mean and rstd.
	LayerNormBackward(dx, dw, db, dout, x, mean, rstd Buffer, w *tensor.Tensor, rows, dim int)
	// AddBias adds b [cols] to every row of y [rows, cols].
	AddBias(y Buffer, b *tensor.Tensor, rows, cols int)
	// BiasBackward adds the column sums of dy [rows, cols] to db [cols].
	BiasBackward(db, dy Buffer, rows, cols int)
	// GELU sets out = x·Φ(x) over n elements (exact, erf-based).
	GELU(out, x Buffer, n int)
	// GELUBackward sets dx (overwriting) = dout·(Φ(x) + x·φ(x)).
	GELUBackward(dx, dout, x Buffer, n int)
	// SplitQKV copies GPT-NeoX's fused projection output qkv [rows,
	// heads·3·headDim] (per head: q, then k, then v) into q, k and v [rows,
	// heads·headDim]. MergeQKV is its inverse (the backward), overwriting qkv.
	SplitQKV(q, k, v, qkv Buffer, rows, heads, headDim int)
	MergeQKV(qkv, q, k, v Buffer, rows, heads, headDim int)

	// GatherRows sets row i of dst to scale[i]·(row rows[i] of src), rows of
	// dim elements; a nil scale means 1.
	GatherRows(dst, src Buffer, rows []int, scale []float64, dim int)
	// ScatterAddRows adds scale[i]·(row i of src) to row rows[i] of dst; a
	// nil scale means 1. Rows may repeat.
	ScatterAddRows(dst, src Buffer, rows []int, scale []float64, dim int)
	// RowDots sets out[i] = ⟨row rows[i] of a, row i of b⟩ on the host.
	RowDots(out []float64, a, b Buffer, rows []int, dim int)
}

// Host64 is implemented by backends that exchange float64 with the host
// without rounding (the CPU backends); the float64 reference path needs it.
type Host64 interface {
	Upload64(dst Buffer, src []float64)
	Download64(dst []float64, src Buffer)
}

// HostF32 returns the float32 host memory behind b when b lives in host
// memory as float32 (the CPU() backend), so callers can read it without a
// copy. ok is false for any other buffer.
func HostF32(b Buffer) (v []float32, ok bool) {
	if c, is := b.(*cpuBuf[float32]); is {
		return c.d, true
	}
	return nil, false
}
