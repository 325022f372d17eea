package blas

import (
	"fmt"
	"math"
	"sync"
)

// Register tile and cache blocking. The 6×16 tile uses 12 of the 16 ymm
// registers as accumulators. kcBlock·16·4 B = 16 KiB of B panel stays in L1
// while the mcBlock×kcBlock A block (144 KiB) sits in L2 and the kcBlock×ncBlock
// B block (4 MiB) in L3, the sizes BLIS uses for Zen.
const (
	mr      = 6
	nr      = 16
	kcBlock = 256
	mcBlock = 144
	ncBlock = 4080

	// packSlack covers packA6's two-float overrun past the last panel.
	packSlack = 16

	// minFlopsPerThread keeps each thread's share well above the cost of
	// waking a worker (a few microseconds).
	minFlopsPerThread = 1 << 21
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major float32 matrices,
// where op(A) is m×k and op(B) is k×n. A is stored m×k with row stride lda, or
// k×m when transA; B is stored k×n with row stride ldb, or n×k when transB; C
// is m×n with row stride ldc. When beta is 0, C is not read (it may hold NaN).
// When alpha is 0 or k is 0, A and B are not read. C must not overlap A or B.
// Sgemm is safe for concurrent use; concurrent calls share the worker pool.
//
// Invalid dimensions, strides or slices too short for them are programming
// errors and panic with a message naming the argument.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	call := getCall()
	call.g = gemm{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc}
	if m <= smallM {
		call.g.small = true
		if transA {
			// The unpacked path reads rows of op(A); Aᵀ has m ≤ smallM of
			// them, so copying is cheap.
			call.scratch = transposeInto(call.scratch, k, m, a, lda)
			call.g.a, call.g.lda, call.g.transA = call.scratch, k, false
		}
	}
	threads := Threads()
	call.tasks = split(call.tasks[:0], m, n, k, threads, call.g.small)
	call.execute(threads)
}

// gemm holds one call's arguments, shared read-only by the threads working
// on it (each writes a disjoint rectangle of c).
type gemm struct {
	transA, transB bool
	small          bool // m ≤ smallM: unpacked path (small.go)
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// packBufs is one thread's packing space.
type packBufs struct {
	a    []float32
	b    []float32
	tile [mr * nr]float32 // result of an edge tile before it is merged into C
}

// bufPool holds packBufs between calls. Buffers are sized to what a task
// needs (at most 144 KiB for A and 4 MiB for B) so that small products, which
// may find the pool emptied by a GC, only allocate small buffers.
var bufPool = sync.Pool{New: func() any { return new(packBufs) }}

// getBufs returns packing space for aLen and bLen floats plus packSlack.
func getBufs(aLen, bLen int) *packBufs {
	p := bufPool.Get().(*packBufs)
	if len(p.a) < aLen+packSlack {
		p.a = make([]float32, aLen+packSlack)
	}
	if len(p.b) < bLen+packSlack {
		p.b = make([]float32, bLen+packSlack)
	}
	return p
}

func putBufs(p *packBufs) { bufPool.Put(p) }

// work computes C[i0:i1, j0:j1] on the calling goroutine.
func (g *gemm) work(i0, i1, j0, j1 int) {
	if g.small {
		g.runSmall(j0, j1)
		return
	}
	kc := evenBlock(g.k, kcBlock, 8)
	mc := evenBlock(i1-i0, mcBlock, mr)
	nc := min(ncBlock, j1-j0)
	bufs := getBufs(roundUp(mc, mr)*kc, roundUp(nc, nr)*kc)
	g.run(i0, i1, j0, j1, kc, mc, bufs)
	putBufs(bufs)
}

// split appends the tasks of one call to tasks: a tr×tc grid of blocks of C
// from grid.
func split(tasks []rect, m, n, k, threads int, small bool) []rect {
	tr, tc := grid(m, n, k, threads, small)
	mi := roundUp(ceilDiv(m, tr), mr)
	ni := roundUp(ceilDiv(n, tc), nr)
	for i0 := 0; i0 < m; i0 += mi {
		for j0 := 0; j0 < n; j0 += ni {
			tasks = append(tasks, rect{i0, min(i0+mi, m), j0, min(j0+ni, n)})
		}
	}
	return tasks
}

// grid picks how C is cut into tasks: tr row blocks × tc column blocks.
//
// With threads > 1 the grid has 4·threads, 3·threads or 2·threads tasks when
// packing allows: more tasks than threads let a thread that was descheduled or
// started late fall behind without stalling the call. Each task packs its own
// op(B) block and op(A) block, so the largest task count whose packing stays
// under maxPackOverhead wins, else threads tasks with the least packing.
func grid(m, n, k, threads int, small bool) (tr, tc int) {
	flops := 2 * float64(m) * float64(n) * float64(k)
	t := min(threads, int(flops/minFlopsPerThread))
	if t <= 1 {
		return 1, 1
	}
	if small {
		// Few rows: split the columns only; the unpacked path packs nothing.
		return 1, max(1, min(t, n/nr))
	}
	const maxPackOverhead = 0.025
	for mult := 4; mult >= 2; mult-- {
		if flops/float64(mult*t) < minFlopsPerThread {
			continue
		}
		if r, c, ov := cheapestGrid(m, n, mult*t); ov <= maxPackOverhead {
			return r, c
		}
	}
	r, c, _ := cheapestGrid(m, n, t)
	return r, c
}

// cheapestGrid returns the r×c = tasks grid with the least packing per FMA:
// a task packs its ni×k op(B) block once and its mi×k op(A) block once per
// ncBlock columns, about packWeight FMAs per value. (1, 1, +Inf) when no
// grid fits the tile counts.
func cheapestGrid(m, n, tasks int) (tr, tc int, overhead float64) {
	const packWeight = 4
	tr, tc, overhead = 1, 1, math.Inf(1)
	for r := 1; r <= tasks; r++ {
		c := tasks / r
		if r*c != tasks || r > ceilDiv(m, mr) || c > ceilDiv(n, nr) {
			continue
		}
		mi := roundUp(ceilDiv(m, r), mr)
		ni := roundUp(ceilDiv(n, c), nr)
		ov := packWeight * float64(ni+mi*ceilDiv(ni, ncBlock)) / (float64(mi) * float64(ni))
		if ov < overhead {
			tr, tc, overhead = r, c, ov
		}
	}
	return tr, tc, overhead
}

// run computes the rectangle C[i0:i1, j0:j1] with the Goto loop nest:
// column blocks of ncBlock, depth blocks of kc0 (op(B) packed once per pair),
// row blocks of mc0 (op(A) packed), then the macro-kernel.
func (g *gemm) run(i0, i1, j0, j1, kc0, mc0 int, bufs *packBufs) {
	for jc := j0; jc < j1; jc += ncBlock {
		nc := min(ncBlock, j1-jc)
		for pc := 0; pc < g.k; pc += kc0 {
			kc := min(kc0, g.k-pc)
			packB(g, jc, nc, pc, kc, bufs.b)
			// The first depth block applies beta; later ones accumulate.
			beta, mode := g.beta, kernBeta
			if pc > 0 {
				beta = 1
			} else if g.beta == 0 {
				mode = kernBetaZero
			}
			for ic := i0; ic < i1; ic += mc0 {
				mc := min(mc0, i1-ic)
				packA(g, ic, mc, pc, kc, bufs.a)
				g.macroKernel(ic, mc, jc, nc, kc, beta, mode, bufs)
			}
		}
	}
}

// macroKernel multiplies the packed mc×kc A block by the packed kc×nc B
// block into C[ic:ic+mc, jc:jc+nc], one 6×16 tile at a time. Edge tiles are
// computed into bufs.tile and merged, so the kernel never writes outside C.
func (g *gemm) macroKernel(ic, mc, jc, nc, kc int, beta float32, mode int, bufs *packBufs) {
	for jr := 0; jr < nc; jr += nr {
		bp := &bufs.b[(jr/nr)*kc*nr]
		cols := min(nr, nc-jr)
		for ir := 0; ir < mc; ir += mr {
			ap := &bufs.a[(ir/mr)*kc*mr]
			rows := min(mr, mc-ir)
			ci := (ic+ir)*g.ldc + jc + jr
			if rows == mr && cols == nr {
				microKernel(kc, ap, bp, &g.c[ci], g.ldc, g.alpha, beta, mode)
				continue
			}
			microKernel(kc, ap, bp, &bufs.tile[0], nr, 1, 0, kernBetaZero)
			for r := range rows {
				crow := g.c[ci+r*g.ldc : ci+r*g.ldc+cols]
				trow := bufs.tile[r*nr : r*nr+cols]
				if mode == kernBetaZero {
					for j, t := range trow {
						crow[j] = g.alpha * t
					}
					continue
				}
				for j, t := range trow {
					crow[j] = g.alpha*t + beta*crow[j]
				}
			}
		}
	}
}

// scaleC sets C = beta·C (C = 0 when beta is 0, whatever C held).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	// Stored shapes (rows × cols) of A and B.
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("a", ar, ac, a, lda, transA)
	checkMatrix("b", br, bc, b, ldb, transB)
	checkMatrix("c", m, n, c, ldc, false)
}

func checkMatrix(name string, rows, cols int, x []float32, ld int, trans bool) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("blas: Sgemm: ld%s=%d is less than the %d columns of the stored %s (%d×%d, trans=%v)",
			name, ld, cols, name, rows, cols, trans))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("blas: Sgemm: len(%s)=%d is shorter than the %d needed for a %d×%d matrix with ld%s=%d",
			name, len(x), need, rows, cols, name, ld))
	}
}

// transposeInto returns the cols×rows transpose of the rows×cols matrix x
// (row stride ld) in buf, grown if needed.
func transposeInto(buf []float32, rows, cols int, x []float32, ld int) []float32 {
	if cap(buf) < rows*cols {
		buf = make([]float32, rows*cols)
	}
	buf = buf[:rows*cols]
	for r := range rows {
		for c, v := range x[r*ld : r*ld+cols] {
			buf[c*rows+r] = v
		}
	}
	return buf
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// evenBlock splits total into ⌈total/block⌉ nearly equal blocks, each a
// multiple of align, so that no tiny remainder block is left at the end.
func evenBlock(total, block, align int) int {
	if total <= block {
		return max(total, 1)
	}
	return roundUp(ceilDiv(total, ceilDiv(total, block)), align)
}
