package blas

// Packing copies a block of op(A) or op(B) into the contiguous layout the
// microkernel streams: op(A) in panels of mr rows stored depth-major
// (panel[p*mr+r]), op(B) in panels of nr columns stored depth-major
// (panel[p*nr+j]). Packing is where the transposes are absorbed, so the
// kernel is the same for all four combinations. Panels at the matrix edge are
// padded with zeros so the kernel always computes a full tile.

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into dst, panel after panel.
func packA(g *gemm, i0, mc, p0, kc int, dst []float32) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[(ir/mr)*kc*mr:]
		if rows := min(mr, mc-ir); rows == mr {
			packAPanel(g, i0+ir, p0, kc, panel)
		} else {
			packAPanelGeneric(g, i0+ir, rows, p0, kc, panel)
		}
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into dst, panel after panel.
func packB(g *gemm, j0, nc, p0, kc int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[(jr/nr)*kc*nr:]
		if cols := min(nr, nc-jr); cols == nr {
			packBPanel(g, j0+jr, p0, kc, panel)
		} else {
			packBPanelGeneric(g, j0+jr, cols, p0, kc, panel)
		}
	}
}

// packAPanelGeneric packs rows i..i+rows-1 (rows ≤ mr) of op(A), zero-padding
// the panel to mr rows.
func packAPanelGeneric(g *gemm, i, rows, p0, kc int, dst []float32) {
	if g.transA {
		// op(A)[i+r, p] = A[p, i+r]: each depth step reads contiguous values.
		for p := range kc {
			src := g.a[(p0+p)*g.lda+i:]
			d := dst[p*mr : p*mr+mr]
			for r := range rows {
				d[r] = src[r]
			}
			for r := rows; r < mr; r++ {
				d[r] = 0
			}
		}
		return
	}
	packANoTransRange(g, i, rows, p0, 0, kc, dst)
	if rows < mr {
		for p := range kc {
			for r := rows; r < mr; r++ {
				dst[p*mr+r] = 0
			}
		}
	}
}

// packANoTransRange fills depth steps from..to-1 of a panel of op(A) = A for
// rows i..i+rows-1.
func packANoTransRange(g *gemm, i, rows, p0, from, to int, dst []float32) {
	for r := range rows {
		src := g.a[(i+r)*g.lda+p0:]
		for p := from; p < to; p++ {
			dst[p*mr+r] = src[p]
		}
	}
}

// packBPanelGeneric packs columns j..j+cols-1 (cols ≤ nr) of op(B),
// zero-padding the panel to nr columns.
func packBPanelGeneric(g *gemm, j, cols, p0, kc int, dst []float32) {
	if !g.transB {
		for p := range kc {
			src := g.b[(p0+p)*g.ldb+j:]
			d := dst[p*nr : p*nr+nr]
			copy(d[:cols], src[:cols])
			clear(d[cols:])
		}
		return
	}
	packBTransRange(g, j, cols, p0, 0, kc, dst)
	if cols < nr {
		for p := range kc {
			clear(dst[p*nr+cols : p*nr+nr])
		}
	}
}

// packBTransRange fills depth steps from..to-1 of a panel of op(B) = Bᵀ for
// columns j..j+cols-1: op(B)[p, j+c] = B[j+c, p].
func packBTransRange(g *gemm, j, cols, p0, from, to int, dst []float32) {
	for c := range cols {
		src := g.b[(j+c)*g.ldb+p0:]
		for p := from; p < to; p++ {
			dst[p*nr+c] = src[p]
		}
	}
}
