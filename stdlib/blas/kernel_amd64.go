//go:build amd64 && !purego

package blas

// Assembly routines in kernel_amd64.s (AVX2 + FMA3).

//go:noescape
func kernel6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)

//go:noescape
func packBT16(kc8 int, b *float32, ldb int, dst *float32)

//go:noescape
func packA6(kc8 int, a *float32, lda int, dst *float32)

//go:noescape
func packB16(kc int, b *float32, ldb int, dst *float32)

//go:noescape
func packAT6(kc int, a *float32, lda int, dst *float32)

// useAsm selects the assembly kernels; tests clear it to exercise the pure-Go
// path on the same machine.
var useAsm = hasAVX2FMA()

func microKernel(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int) {
	if useAsm {
		kernel6x16(kc, a, b, c, ldc, alpha, beta, mode)
		return
	}
	kernelGeneric(kc, a, b, c, ldc, alpha, beta, mode)
}

// packAPanel packs a full 6-row panel of op(A) (rows i..i+5, depth p0..p0+kc)
// into dst[0 : 6·kc].
func packAPanel(g *gemm, i, p0, kc int, dst []float32) {
	if !useAsm {
		packAPanelGeneric(g, i, mr, p0, kc, dst)
		return
	}
	if g.transA {
		packAT6(kc, &g.a[p0*g.lda+i], g.lda, &dst[0])
		return
	}
	kc8 := kc / 8
	if kc8 > 0 {
		// packA6 writes two floats past 48·kc8; dst has that slack (see
		// packBufs), and the tail below or the next panel overwrites them.
		packA6(kc8, &g.a[i*g.lda+p0], g.lda, &dst[0])
	}
	if done := kc8 * 8; done < kc {
		packANoTransRange(g, i, mr, p0, done, kc, dst)
	}
}

// packBPanel packs a full 16-column panel of op(B) (columns j..j+15, depth
// p0..p0+kc) into dst[0 : 16·kc].
func packBPanel(g *gemm, j, p0, kc int, dst []float32) {
	if !useAsm {
		packBPanelGeneric(g, j, nr, p0, kc, dst)
		return
	}
	if !g.transB {
		packB16(kc, &g.b[p0*g.ldb+j], g.ldb, &dst[0])
		return
	}
	kc8 := kc / 8
	if kc8 > 0 {
		packBT16(kc8, &g.b[j*g.ldb+p0], g.ldb, &dst[0])
	}
	if done := kc8 * 8; done < kc {
		packBTransRange(g, j, nr, p0, done, kc, dst)
	}
}
