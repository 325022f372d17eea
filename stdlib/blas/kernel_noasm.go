//go:build !amd64 || purego

package blas

// useAsm is always false without the amd64 assembly; it exists so tests can
// set it on every architecture.
var useAsm = false

func microKernel(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int) {
	kernelGeneric(kc, a, b, c, ldc, alpha, beta, mode)
}

func packAPanel(g *gemm, i, p0, kc int, dst []float32) {
	packAPanelGeneric(g, i, mr, p0, kc, dst)
}

func packBPanel(g *gemm, j, p0, kc int, dst []float32) {
	packBPanelGeneric(g, j, nr, p0, kc, dst)
}
