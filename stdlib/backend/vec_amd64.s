//go:build amd64 && !purego

#include "textflag.h"

// Vector loops of softmax and its backward; n is a positive multiple of 8,
// the Go wrappers in vec.go handle the tails.

// func maxAVX2(x *float32, n int) (m float32, nan bool)
TEXT ·maxAVX2(SB), NOSPLIT, $0-21
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VXORPS Y1, Y1, Y1

maxloop:
	VMOVUPS (SI), Y2
	VMAXPS Y0, Y2, Y0
	VCMPPS $3, Y2, Y2, Y3 // unordered: NaN lanes
	VORPS Y3, Y1, Y1
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  maxloop

	VEXTRACTF128 $1, Y0, X2
	VMAXPS X2, X0, X0
	VPERMILPS $0x4e, X0, X2
	VMAXPS X2, X0, X0
	VPERMILPS $0xb1, X0, X2
	VMAXPS X2, X0, X0
	MOVSS X0, m+16(FP)
	VMOVMSKPS Y1, AX
	TESTL AX, AX
	SETNE nan+20(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, a float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS a+16(FP), Y0

scaleloop:
	VMULPS (SI), Y0, Y1
	VMOVUPS Y1, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  scaleloop
	VZEROUPPER
	RET

// func dotAVX2(a, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0

dotloop:
	VMOVUPS (SI), Y1
	VFMADD231PS (DI), Y1, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  dotloop

	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func softmaxBackAVX2(d, p *float32, n int, c float32)
// d[i] = p[i]·(d[i] − c)
TEXT ·softmaxBackAVX2(SB), NOSPLIT, $0-28
	MOVQ d+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS c+24(FP), Y0

sbloop:
	VMOVUPS (DI), Y1
	VSUBPS Y0, Y1, Y1
	VMULPS (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  sbloop
	VZEROUPPER
	RET
