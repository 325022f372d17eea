package blas

import "unsafe"

// Microkernel store modes.
const (
	kernBeta     = 0 // C = alpha·AB + beta·C
	kernBetaZero = 1 // C = alpha·AB; C is not read (it may hold NaN)
)

// kernelGeneric is the portable microkernel: the same contract as the
// assembly kernel6x16. a is a packed 6×kc panel (a[p*6+r]), b a packed kc×16
// panel (b[p*16+j]), c the top-left of a full 6×16 tile with row stride ldc.
//
// The tile is computed in 2×4 blocks whose eight accumulators and six inputs
// fit the scalar registers of amd64 and arm64 (where the compiler also fuses
// the multiply-adds), re-reading the panels from L1 for each block.
func kernelGeneric(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int) {
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	var acc [mr][nr]float32
	for r := 0; r < mr; r += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			// Offsets from the panel starts instead of slice indexing keep
			// bounds checks out of the inner loop; every address formed is
			// inside the kc·mr and kc·nr panels.
			ap := unsafe.Add(unsafe.Pointer(a), r*4)
			bp := unsafe.Add(unsafe.Pointer(b), j*4)
			for p := 0; p < kc; p++ {
				av := (*[2]float32)(unsafe.Add(ap, p*mr*4))
				bv := (*[4]float32)(unsafe.Add(bp, p*nr*4))
				a0, a1 := av[0], av[1]
				b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
			}
			acc[r][j], acc[r][j+1], acc[r][j+2], acc[r][j+3] = c00, c01, c02, c03
			acc[r+1][j], acc[r+1][j+1], acc[r+1][j+2], acc[r+1][j+3] = c10, c11, c12, c13
		}
	}
	for r := range mr {
		crow := (*[nr]float32)(cs[r*ldc:])
		if mode == kernBetaZero {
			for j := range nr {
				crow[j] = alpha * acc[r][j]
			}
			continue
		}
		for j := range nr {
			crow[j] = alpha*acc[r][j] + beta*crow[j]
		}
	}
}
