//go:build cuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// The backend.Backend operations of GPT-NeoX (kernels/neox.cu) and of
// mixture-of-experts routing and the fused q/k/v layout (kernels/rows.cu).

func (b *cudaBackend) LayerNorm(out, mean, rstd, x backend.Buffer, w, bias *tensor.Tensor, rows, dim int, eps float64) {
	b.enter()
	defer b.exit()
	b.need(x, rows*dim, "LayerNorm input")
	b.need(out, rows*dim, "LayerNorm output")
	b.need(mean, rows, "LayerNorm mean")
	b.need(rstd, rows, "LayerNorm rstd")
	W, B := b.weight(w), b.weight(bias)
	b.launch(kLayerNorm, rows, 1, 256, argP(b.ptr(out)), argP(b.ptr(mean)), argP(b.ptr(rstd)), argP(b.ptr(x)),
		argP(W.blk.ptr), argI(int64(W.dt)), argP(B.blk.ptr), argI(int64(B.dt)), argI(int64(dim)), argF(eps))
}

func (b *cudaBackend) LayerNormBackward(dx, dw, db, dout, x, mean, rstd backend.Buffer, w *tensor.Tensor, rows, dim int) {
	b.enter()
	defer b.exit()
	for _, c := range []struct {
		buf  backend.Buffer
		n    int
		what string
	}{{dx, rows * dim, "dx"}, {dw, dim, "dw"}, {db, dim, "db"}, {dout, rows * dim, "dout"}, {x, rows * dim, "x"}, {mean, rows, "mean"}, {rstd, rows, "rstd"}} {
		b.need(c.buf, c.n, "LayerNormBackward "+c.what)
	}
	W := b.weight(w)
	b.launch(kLayerNormBackwardDX, rows, 1, 256, argP(b.ptr(dx)), argP(b.ptr(dout)), argP(b.ptr(x)), argP(b.ptr(mean)),
		argP(b.ptr(rstd)), argP(W.blk.ptr), argI(int64(W.dt)), argI(int64(dim)))
	b.grid(kLayerNormBackwardDWB, int64(dim), argP(b.ptr(dw)), argP(b.ptr(db)), argP(b.ptr(dout)), argP(b.ptr(x)),
		argP(b.ptr(mean)), argP(b.ptr(rstd)), argI(int64(rows)), argI(int64(dim)))
}

func (b *cudaBackend) AddBias(y backend.Buffer, bias *tensor.Tensor, rows, cols int) {
	b.enter()
	defer b.exit()
	b.need(y, rows*cols, "AddBias y")
	if bias.Len() < cols {
		panic(fmt.Sprintf("gpu: AddBias: bias %s has %d values for %d columns", bias.Name, bias.Len(), cols))
	}
	B := b.weight(bias)
	b.grid(kAddBias, int64(rows*cols), argP(b.ptr(y)), argP(B.blk.ptr), argI(int64(B.dt)), argI(int64(rows)), argI(int64(cols)))
}

func (b *cudaBackend) BiasBackward(db, dy backend.Buffer, rows, cols int) {
	b.enter()
	defer b.exit()
	b.need(db, cols, "BiasBackward db")
	b.need(dy, rows*cols, "BiasBackward dy")
	b.grid(kBiasBackward, int64(cols), argP(b.ptr(db)), argP(b.ptr(dy)), argI(int64(rows)), argI(int64(cols)))
}

func (b *cudaBackend) GELU(out, x backend.Buffer, n int) {
	b.enter()
	defer b.exit()
	b.need(out, n, "GELU output")
	b.need(x, n, "GELU input")
	b.grid(kGELU, int64(n), argP(b.ptr(out)), argP(b.ptr(x)), argI(int64(n)))
}

func (b *cudaBackend) GELUBackward(dx, dout, x backend.Buffer, n int) {
	b.enter()
	defer b.exit()
	for _, v := range []backend.Buffer{dx, dout, x} {
		b.need(v, n, "GELUBackward operand")
	}
	b.grid(kGELUBackward, int64(n), argP(b.ptr(dx)), argP(b.ptr(dout)), argP(b.ptr(x)), argI(int64(n)))
}

func (b *cudaBackend) SplitQKV(q, k, v, qkv backend.Buffer, rows, heads, headDim int) {
	b.enter()
	defer b.exit()
	n := rows * heads * headDim
	for _, x := range []backend.Buffer{q, k, v} {
		b.need(x, n, "SplitQKV output")
	}
	b.need(qkv, 3*n, "SplitQKV input")
	b.grid(kSplitQKV, 3*int64(n), argP(b.ptr(q)), argP(b.ptr(k)), argP(b.ptr(v)), argP(b.ptr(qkv)),
		argI(int64(rows*heads)), argI(int64(headDim)))
}

func (b *cudaBackend) MergeQKV(qkv, q, k, v backend.Buffer, rows, heads, headDim int) {
	b.enter()
	defer b.exit()
	n := rows * heads * headDim
	for _, x := range []backend.Buffer{q, k, v} {
		b.need(x, n, "MergeQKV input")
	}
	b.need(qkv, 3*n, "MergeQKV output")
	b.grid(kMergeQKV, 3*int64(n), argP(b.ptr(qkv)), argP(b.ptr(q)), argP(b.ptr(k)), argP(b.ptr(v)),
		argI(int64(rows*heads)), argI(int64(headDim)))
}

// rowArgs uploads a row list and its optional scales (0 when nil), after
// checking the rows against a buffer of srcRows rows.
func (b *cudaBackend) rowArgs(rows []int, scale []float64, srcRows int, what string) (cu.DevicePtr, cu.DevicePtr) {
	checkIDs(rows, srcRows, what)
	if scale != nil && len(scale) < len(rows) {
		panic(fmt.Sprintf("gpu: %s: %d scales for %d rows", what, len(scale), len(rows)))
	}
	var sc []byte
	if scale != nil {
		sc = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(scale))), 8*len(rows))
	}
	r := ints64(rows)
	dev := b.upRaw(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(r))), 8*len(r)), sc)
	if scale == nil {
		return dev[0], 0
	}
	return dev[0], dev[1]
}

func (b *cudaBackend) GatherRows(dst, src backend.Buffer, rows []int, scale []float64, dim int) {
	b.enter()
	defer b.exit()
	b.need(dst, len(rows)*dim, "GatherRows destination")
	r, sc := b.rowArgs(rows, scale, b.buf(src).n/max(dim, 1), "GatherRows")
	b.grid(kGatherRows, int64(len(rows)*dim), argP(b.ptr(dst)), argP(b.ptr(src)), argP(r), argP(sc),
		argI(int64(len(rows))), argI(int64(dim)))
}

func (b *cudaBackend) ScatterAddRows(dst, src backend.Buffer, rows []int, scale []float64, dim int) {
	b.enter()
	defer b.exit()
	b.need(src, len(rows)*dim, "ScatterAddRows source")
	r, sc := b.rowArgs(rows, scale, b.buf(dst).n/max(dim, 1), "ScatterAddRows")
	b.grid(kScatterAddRows, int64(dim), argP(b.ptr(dst)), argP(b.ptr(src)), argP(r), argP(sc),
		argI(int64(len(rows))), argI(int64(dim)))
}

func (b *cudaBackend) RowDots(out []float64, x, y backend.Buffer, rows []int, dim int) {
	b.enter()
	defer b.exit()
	if len(out) < len(rows) {
		panic(fmt.Sprintf("gpu: RowDots: %d outputs for %d rows", len(out), len(rows)))
	}
	b.need(y, len(rows)*dim, "RowDots b")
	r, _ := b.rowArgs(rows, nil, b.buf(x).n/max(dim, 1), "RowDots")
	if len(rows) == 0 {
		return
	}
	res := b.scratch(&b.small, 8*int64(len(rows)))
	b.launch(kRowDots, len(rows), 1, 256, argP(res), argP(b.ptr(x)), argP(b.ptr(y)), argP(r), argI(int64(dim)))
	if err := cu.MemcpyDtoH(unsafe.Pointer(&out[0]), res, 8*int64(len(rows))); err != nil {
		b.fail("RowDots (reading the results)", err)
	}
}
