package backend

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"esa/stdlib/tensor"
)

// CPU returns the float32 CPU backend: SIMD GEMM, rows and heads spread over
// GOMAXPROCS goroutines, F32 weights read in place.
func CPU() Backend { return &cpu[float32]{name: "cpu-f32"} }

// CPU64 returns the float64 CPU backend, the reference for finite-difference
// checks: every op in float64, weights widened exactly from their stored
// dtype. It is slow by design (plain loops).
func CPU64() Backend { return &cpu[float64]{name: "cpu-f64"} }

// cpuBuf is a host buffer of the CPU backends.
type cpuBuf[T float] struct{ d []T }

func (b *cpuBuf[T]) Len() int { return len(b.d) }

// cpu implements Backend on host memory for T = float32 or float64. The ops
// live in files by kind (cpu_elementwise.go, cpu_attention.go, ...).
type cpu[T float] struct {
	name string
	// scratch pools reused conversion and attention scratch by exact
	// length (int → *sync.Pool of *[]T): the same few weight shapes and
	// attention sizes recur every pass, and one pool for all sizes would
	// keep trading a 100 MB head conversion for a small buffer.
	scratch sync.Map
}

func (c *cpu[T]) Name() string { return c.name }

// s unwraps a buffer of this backend (nil stays nil).
func (c *cpu[T]) s(b Buffer) []T {
	if b == nil {
		return nil
	}
	cb, ok := b.(*cpuBuf[T])
	if !ok {
		panic(fmt.Sprintf("backend %s: buffer %T belongs to another backend", c.name, b))
	}
	return cb.d
}

// get returns scratch of n elements (contents undefined); put gives it back.
func (c *cpu[T]) get(n int) *[]T {
	if pool, ok := c.scratch.Load(n); ok {
		if p, _ := pool.(*sync.Pool).Get().(*[]T); p != nil {
			return p
		}
	}
	s := make([]T, n)
	return &s
}

func (c *cpu[T]) put(p *[]T) {
	pool, _ := c.scratch.LoadOrStore(len(*p), new(sync.Pool))
	pool.(*sync.Pool).Put(p)
}

func (c *cpu[T]) Alloc(n int) Buffer { return &cpuBuf[T]{d: make([]T, n)} }

func (c *cpu[T]) Slice(b Buffer, off, n int) Buffer {
	return &cpuBuf[T]{d: c.s(b)[off : off+n : off+n]}
}

func (c *cpu[T]) Zero(b Buffer) { clear(c.s(b)) }

func (c *cpu[T]) Upload(dst Buffer, src []float32) {
	d := c.s(dst)[:len(src)]
	for i, v := range src {
		d[i] = T(v)
	}
}

func (c *cpu[T]) Download(dst []float32, src Buffer) {
	s := c.s(src)[:len(dst)]
	if len(dst) > 0 && unsafe.Pointer(&dst[0]) == unsafe.Pointer(&s[0]) {
		return // FromHost aliased it: already there
	}
	for i, v := range s {
		dst[i] = float32(v)
	}
}

func (c *cpu[T]) FromHost(h []float32) Buffer {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return &cpuBuf[T]{d: unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(h))), len(h))}
	}
	b := c.Alloc(len(h))
	c.Upload(b, h)
	return b
}

// Upload64 and Download64 implement Host64.
func (c *cpu[T]) Upload64(dst Buffer, src []float64) {
	d := c.s(dst)[:len(src)]
	for i, v := range src {
		d[i] = T(v)
	}
}

func (c *cpu[T]) Download64(dst []float64, src Buffer) {
	s := c.s(src)[:len(dst)]
	for i, v := range s {
		dst[i] = float64(v)
	}
}

func (c *cpu[T]) Copy(dst, src Buffer) { copy(c.s(dst), c.s(src)) }

func (c *cpu[T]) Add(dst, src Buffer) {
	d, s := c.s(dst), c.s(src)
	d = d[:len(s)]
	parallelFor(len(s), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d[i] += s[i]
		}
	})
}

// Invalidate is a no-op: the CPU backends keep no converted copies.
func (c *cpu[T]) Invalidate(*tensor.Tensor) {}

// weight returns t's values in precision T. Same-precision storage is read
// in place, so in-place edits of the tensor are seen; other dtypes are
// converted into pooled scratch, which release returns.
func (c *cpu[T]) weight(t *tensor.Tensor) (w []T, release func()) {
	var zero T
	_, f32 := any(zero).(float32)
	if (f32 && t.DType == tensor.F32) || (!f32 && t.DType == tensor.F64) {
		n := t.Len()
		if n == 0 {
			return nil, func() {}
		}
		return unsafe.Slice((*T)(unsafe.Pointer(&t.Data[0])), n), func() {}
	}
	p := c.get(t.Len())
	w = *p
	if f32 {
		dst := asF32(w)
		parallelFor(len(dst), 1<<16, func(lo, hi int) { t.ReadF32(lo, dst[lo:hi]) })
	} else {
		for i := range w {
			w[i] = T(t.At(i))
		}
	}
	return w, func() { c.put(p) }
}

func (c *cpu[T]) Embedding(out Buffer, w *tensor.Tensor, ids []int) {
	o := c.s(out)
	dim := w.Cols()
	var zero T
	_, f32 := any(zero).(float32)
	for r, id := range ids {
		row := o[r*dim : (r+1)*dim]
		if f32 {
			w.ReadF32(id*dim, asF32(row))
			continue
		}
		for j := range row {
			row[j] = T(w.At(id*dim + j))
		}
	}
}

func (c *cpu[T]) EmbeddingBackward(dw, dout Buffer, ids []int, dim int) {
	g, d := c.s(dw), c.s(dout)
	for r, id := range ids {
		grow := g[id*dim : (id+1)*dim]
		for j, v := range d[r*dim : (r+1)*dim] {
			grow[j] += v
		}
	}
}

func (c *cpu[T]) MatMul(out, x Buffer, w *tensor.Tensor, rows int, accumulate bool) {
	nOut, nIn := w.Rows(), w.Cols()
	W, release := c.weight(w)
	defer release()
	beta := T(0)
	if accumulate {
		beta = 1
	}
	gemm(true, false, true, rows, nOut, nIn, 1, c.s(x), nIn, W, nIn, beta, c.s(out), nOut)
}

func (c *cpu[T]) MatMulBackward(dx, dw, dout, x Buffer, w *tensor.Tensor, rows int, accumulateDX bool) {
	nOut, nIn := w.Rows(), w.Cols()
	dy := c.s(dout)
	if dx != nil {
		W, release := c.weight(w)
		beta := T(0)
		if accumulateDX {
			beta = 1
		}
		gemm(true, false, false, rows, nIn, nOut, 1, dy, nOut, W, nIn, beta, c.s(dx), nIn)
		release()
	}
	if dw != nil {
		gemm(true, true, false, nOut, nIn, rows, 1, dy, nOut, c.s(x), nIn, 1, c.s(dw), nIn)
	}
}

// expf is e^x for float32 with about 1 ulp error (Cephes expf: range
// reduction by ln 2 in two parts, degree-6 polynomial, exponent by bits).
// Results below the smallest normal float32 are flushed to 0, as the AVX2
// version in exp_amd64.s does.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	}
	n := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
	r := x - n*0.693359375 - n*-2.12194440e-4
	z := r * r
	y := (((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r+5.0000001201e-1)*z + r + 1
	e := int32(n)
	if e > 127 { // x just below the overflow threshold
		y *= 2
		e--
	}
	return y * math.Float32frombits(uint32(e+127)<<23)
}
