//go:build amd64 && !purego

#include "textflag.h"

// func dot4(k16 int, x, b *float32, ldb int, out *[4]float32)
//
// out[q] = Σ_{p<16·k16} x[p]·b[q*ldb+p] for q = 0..3: one vector x against
// four rows of a row-major matrix. Two accumulators per row hide the FMA
// latency; x is loaded once for all four rows.
TEXT ·dot4(SB), NOSPLIT, $0-40
	MOVQ k16+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R8
	MOVQ out+32(FP), DI
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dot4loop:
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (BX), Y8, Y0
	VFMADD231PS 32(BX), Y9, Y4
	VFMADD231PS (BX)(R8*1), Y8, Y1
	VFMADD231PS 32(BX)(R8*1), Y9, Y5
	VFMADD231PS (BX)(R8*2), Y8, Y2
	VFMADD231PS 32(BX)(R8*2), Y9, Y6
	VFMADD231PS (BX)(R9*1), Y8, Y3
	VFMADD231PS 32(BX)(R9*1), Y9, Y7
	ADDQ        $64, SI
	ADDQ        $64, BX
	DECQ        CX
	JNZ         dot4loop

	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0   // [r0 r0 r1 r1 | r0 r0 r1 r1] partial sums
	VHADDPS      Y3, Y2, Y2   // [r2 r2 r3 r3 | ...]
	VHADDPS      Y2, Y0, Y0   // [r0 r1 r2 r3 | r0 r1 r2 r3]
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DI)
	VZEROUPPER
	RET

// func axpy4(n8 int, a *[4]float32, b *float32, ldb int, y *float32)
//
// y[j] += a[0]·b[j] + a[1]·b[ldb+j] + a[2]·b[2·ldb+j] + a[3]·b[3·ldb+j] for
// j < 8·n8: four rows of a row-major matrix folded into y in one pass, so y
// is loaded and stored once per four rows.
TEXT ·axpy4(SB), NOSPLIT, $0-40
	MOVQ         n8+0(FP), CX
	MOVQ         a+8(FP), AX
	MOVQ         b+16(FP), BX
	MOVQ         ldb+24(FP), R8
	MOVQ         y+32(FP), DI
	SHLQ         $2, R8
	LEAQ         (R8)(R8*2), R9
	VBROADCASTSS (AX), Y12
	VBROADCASTSS 4(AX), Y13
	VBROADCASTSS 8(AX), Y14
	VBROADCASTSS 12(AX), Y15

axpy4loop:
	VMOVUPS     (DI), Y0
	VMULPS      (BX)(R8*1), Y13, Y1
	VFMADD231PS (BX), Y12, Y0
	VFMADD231PS (BX)(R8*2), Y14, Y0
	VFMADD231PS (BX)(R9*1), Y15, Y1
	VADDPS      Y1, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, BX
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axpy4loop
	VZEROUPPER
	RET
