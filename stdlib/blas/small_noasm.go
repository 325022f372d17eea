//go:build !amd64 || purego

package blas

func dotRows4(k int, x, b []float32, ldb int, out *[4]float32) {
	dotRows4Generic(k, x, b, ldb, out)
}

func axpyRows4(n int, a *[4]float32, b []float32, ldb int, y []float32) {
	axpyRows4Generic(n, a, b, ldb, y)
}
