package blas

// Products with very few rows (m ≤ smallM: one token at a time during
// generation) are memory-bound on op(B). Packing op(B) would read and write
// it once more and the 6-row tile would waste most of its FMAs, so these
// products skip packing: op(B) = Bᵀ becomes dot products of contiguous rows,
// op(B) = B a sweep of fused row updates of C.

// smallM is the largest m that takes the unpacked path.
const smallM = 5

// smallChunk is the width of the C row segment kept in L1 while op(B) = B
// streams past it.
const smallChunk = 512

// runSmall computes C[0:m, j0:j1]. op(A) is row-contiguous here: Sgemm
// copies it when transA.
func (g *gemm) runSmall(j0, j1 int) {
	if g.transB {
		g.smallDots(j0, j1)
	} else {
		g.smallAxpy(j0, j1)
	}
}

// smallDots: C[i,j] = alpha·⟨A row i, B row j⟩ + beta·C[i,j], four B rows at a
// time so each is read from memory once for all m rows of A.
func (g *gemm) smallDots(j0, j1 int) {
	k := g.k
	var out [4]float32
	j := j0
	for ; j+4 <= j1; j += 4 {
		brows := g.b[j*g.ldb:]
		for i := range g.m {
			dotRows4(k, g.a[i*g.lda:i*g.lda+k], brows, g.ldb, &out)
			crow := g.c[i*g.ldc+j : i*g.ldc+j+4]
			for q := range crow {
				crow[q] = g.scaled(out[q], crow[q])
			}
		}
	}
	for ; j < j1; j++ {
		brow := g.b[j*g.ldb : j*g.ldb+k]
		for i := range g.m {
			arow := g.a[i*g.lda : i*g.lda+k]
			var s float32
			for p, v := range brow {
				s += arow[p] * v
			}
			ci := i*g.ldc + j
			g.c[ci] = g.scaled(s, g.c[ci])
		}
	}
}

// scaled returns alpha·ab + beta·c, not reading c when beta is 0.
func (g *gemm) scaled(ab, c float32) float32 {
	if g.beta == 0 {
		return g.alpha * ab
	}
	return g.alpha*ab + g.beta*c
}

// smallAxpy: C[i, chunk] = beta·C[i, chunk] + Σp (alpha·A[i,p])·B[p, chunk],
// folding four rows of B per pass over a C segment that stays in L1.
func (g *gemm) smallAxpy(j0, j1 int) {
	k := g.k
	for jc := j0; jc < j1; jc += smallChunk {
		w := min(smallChunk, j1-jc)
		for i := range g.m {
			scaleC(1, w, g.beta, g.c[i*g.ldc+jc:], g.ldc)
		}
		p := 0
		for ; p+4 <= k; p += 4 {
			brows := g.b[p*g.ldb+jc:]
			for i := range g.m {
				ar := g.a[i*g.lda+p : i*g.lda+p+4]
				a4 := [4]float32{g.alpha * ar[0], g.alpha * ar[1], g.alpha * ar[2], g.alpha * ar[3]}
				axpyRows4(w, &a4, brows, g.ldb, g.c[i*g.ldc+jc:i*g.ldc+jc+w])
			}
		}
		for ; p < k; p++ {
			brow := g.b[p*g.ldb+jc : p*g.ldb+jc+w]
			for i := range g.m {
				av := g.alpha * g.a[i*g.lda+p]
				crow := g.c[i*g.ldc+jc : i*g.ldc+jc+w]
				for j, v := range brow {
					crow[j] += av * v
				}
			}
		}
	}
}

// dotRows4Generic sets out[q] = Σp x[p]·b[q*ldb+p] for q < 4, p < k.
func dotRows4Generic(k int, x, b []float32, ldb int, out *[4]float32) {
	x = x[:k]
	for q := range out {
		row := b[q*ldb : q*ldb+k]
		var s float32
		for p, v := range row {
			s += x[p] * v
		}
		out[q] = s
	}
}

// axpyRows4Generic adds Σq a[q]·b[q*ldb+j] to y[j] for j < n.
func axpyRows4Generic(n int, a *[4]float32, b []float32, ldb int, y []float32) {
	b0, b1, b2, b3 := b[:n], b[ldb:ldb+n], b[2*ldb:2*ldb+n], b[3*ldb:3*ldb+n]
	y = y[:n]
	for j := range y {
		y[j] += a[0]*b0[j] + a[1]*b1[j] + a[2]*b2[j] + a[3]*b3[j]
	}
}
