//go:build amd64 && !purego

package blas

//go:noescape
func dot4(k16 int, x, b *float32, ldb int, out *[4]float32)

//go:noescape
func axpy4(n8 int, a *[4]float32, b *float32, ldb int, y *float32)

// dotRows4 sets out[q] = Σp x[p]·b[q*ldb+p] for q < 4, p < k.
func dotRows4(k int, x, b []float32, ldb int, out *[4]float32) {
	if !useAsm || k < 16 {
		dotRows4Generic(k, x, b, ldb, out)
		return
	}
	k16 := k / 16
	dot4(k16, &x[0], &b[0], ldb, out)
	if done := k16 * 16; done < k {
		var tail [4]float32
		dotRows4Generic(k-done, x[done:], b[done:], ldb, &tail)
		for q := range out {
			out[q] += tail[q]
		}
	}
}

// axpyRows4 adds Σq a[q]·b[q*ldb+j] to y[j] for j < n.
func axpyRows4(n int, a *[4]float32, b []float32, ldb int, y []float32) {
	if !useAsm || n < 8 {
		axpyRows4Generic(n, a, b, ldb, y)
		return
	}
	n8 := n / 8
	axpy4(n8, a, &b[0], ldb, &y[0])
	if done := n8 * 8; done < n {
		axpyRows4Generic(n-done, a, b[done:], ldb, y[done:])
	}
}
