//go:build amd64 && !purego

#include "textflag.h"

// One k step of the 6×16 microkernel: B row p is two ymm (Y12, Y13), each of
// the six A values is broadcast in turn and multiplied into the two
// accumulators of its C row (row r lives in Y(2r) and Y(2r+1)).
#define KSTEP(ao, bo) \
	VMOVUPS      bo(BX), Y12; \
	VMOVUPS      bo+32(BX), Y13; \
	VBROADCASTSS ao(AX), Y14; \
	VBROADCASTSS ao+4(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS ao+8(AX), Y14; \
	VBROADCASTSS ao+12(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS ao+16(AX), Y14; \
	VBROADCASTSS ao+20(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11

// func kernel6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, mode int)
//
// C[0:6, 0:16] (row stride ldc) = alpha·Σp a[p*6+r]·b[p*16+j] + beta·C, or
// without reading C when mode is kernBetaZero. kc ≥ 1.
TEXT ·kernel6x16(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX

	// Start pulling the C tile into cache while the k loop runs.
	MOVQ       DI, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)
	ADDQ       DX, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)
	ADDQ       DX, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)
	ADDQ       DX, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)
	ADDQ       DX, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)
	ADDQ       DX, R8
	PREFETCHT0 (R8)
	PREFETCHT0 63(R8)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ CX, R9
	SHRQ $2, R9
	JZ   tail

loop4:
	// The A micro-panel streams from L2; ask for it a few steps ahead.
	PREFETCHT0 384(AX)
	PREFETCHT0 448(AX)
	KSTEP(0, 0)
	KSTEP(24, 64)
	KSTEP(48, 128)
	KSTEP(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ R9
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	KSTEP(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  loop1

store:
	VBROADCASTSS alpha+40(FP), Y14
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11

	MOVQ mode+48(FP), R8
	CMPQ R8, $0
	JNE  storeonly

	// C = alpha·acc + beta·C
	VBROADCASTSS beta+44(FP), Y15
	VFMADD231PS  (DI), Y15, Y0
	VFMADD231PS  32(DI), Y15, Y1
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	ADDQ         DX, DI
	VFMADD231PS  (DI), Y15, Y2
	VFMADD231PS  32(DI), Y15, Y3
	VMOVUPS      Y2, (DI)
	VMOVUPS      Y3, 32(DI)
	ADDQ         DX, DI
	VFMADD231PS  (DI), Y15, Y4
	VFMADD231PS  32(DI), Y15, Y5
	VMOVUPS      Y4, (DI)
	VMOVUPS      Y5, 32(DI)
	ADDQ         DX, DI
	VFMADD231PS  (DI), Y15, Y6
	VFMADD231PS  32(DI), Y15, Y7
	VMOVUPS      Y6, (DI)
	VMOVUPS      Y7, 32(DI)
	ADDQ         DX, DI
	VFMADD231PS  (DI), Y15, Y8
	VFMADD231PS  32(DI), Y15, Y9
	VMOVUPS      Y8, (DI)
	VMOVUPS      Y9, 32(DI)
	ADDQ         DX, DI
	VFMADD231PS  (DI), Y15, Y10
	VFMADD231PS  32(DI), Y15, Y11
	VMOVUPS      Y10, (DI)
	VMOVUPS      Y11, 32(DI)
	VZEROUPPER
	RET

storeonly:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    DX, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    DX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ    DX, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ    DX, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ    DX, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET

// TRANSPOSE8 transposes the 8×8 block held in Y0..Y7 (row i in Yi): column j
// ends in Y(8+j). Y0..Y7 are clobbered.
#define TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8; \
	VUNPCKHPS  Y1, Y0, Y9; \
	VUNPCKLPS  Y3, Y2, Y10; \
	VUNPCKHPS  Y3, Y2, Y11; \
	VUNPCKLPS  Y5, Y4, Y12; \
	VUNPCKHPS  Y5, Y4, Y13; \
	VUNPCKLPS  Y7, Y6, Y14; \
	VUNPCKHPS  Y7, Y6, Y15; \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func packBT16(kc8 int, b *float32, ldb int, dst *float32)
//
// Packs 16 rows of a row-major matrix (row c at b + c·ldb), 8·kc8 columns,
// transposed: dst[p*16+c] = b[c*ldb+p]. This is the B panel of op(B) = Bᵀ.
TEXT ·packBT16(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8            // row stride in bytes
	LEAQ (R8)(R8*2), R9    // 3 rows
	LEAQ (SI)(R8*4), R10   // row 4
	LEAQ (R10)(R8*4), R11  // row 8
	LEAQ (R11)(R8*4), R12  // row 12

bt16loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)
	VMOVUPS (R11), Y0
	VMOVUPS (R11)(R8*1), Y1
	VMOVUPS (R11)(R8*2), Y2
	VMOVUPS (R11)(R9*1), Y3
	VMOVUPS (R12), Y4
	VMOVUPS (R12)(R8*1), Y5
	VMOVUPS (R12)(R8*2), Y6
	VMOVUPS (R12)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)
	ADDQ    $32, SI
	ADDQ    $32, R10
	ADDQ    $32, R11
	ADDQ    $32, R12
	ADDQ    $512, DI
	DECQ    CX
	JNZ     bt16loop
	VZEROUPPER
	RET

// func packA6(kc8 int, a *float32, lda int, dst *float32)
//
// Packs 6 rows of a row-major matrix (row r at a + r·lda), 8·kc8 columns,
// transposed: dst[p*6+r] = a[r*lda+p]. Each column is written with one 8-wide
// store whose last two lanes spill into the next column's slot (rewritten by
// the next store), so the final store writes 2 floats past dst[48·kc8]: the
// caller's buffer has slack for it.
TEXT ·packA6(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10

a6loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVAPS Y4, Y6         // rows 6 and 7 do not exist; their lanes are never kept
	VMOVAPS Y5, Y7
	TRANSPOSE8
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y14, 144(DI)
	VMOVUPS Y15, 168(DI)
	ADDQ    $32, SI
	ADDQ    $32, R10
	ADDQ    $192, DI
	DECQ    CX
	JNZ     a6loop
	VZEROUPPER
	RET

// func packB16(kc int, b *float32, ldb int, dst *float32)
//
// Packs kc rows × 16 columns of a row-major matrix: dst[p*16+j] = b[p*ldb+j].
TEXT ·packB16(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8

b16loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     b16loop
	VZEROUPPER
	RET

// func packAT6(kc int, a *float32, lda int, dst *float32)
//
// Packs kc rows × 6 columns of a row-major matrix: dst[p*6+r] = a[p*lda+r].
// This is the A panel of op(A) = Aᵀ.
TEXT ·packAT6(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8

at6loop:
	MOVUPS (SI), X0
	MOVQ   16(SI), X1
	MOVUPS X0, (DI)
	MOVQ   X1, 16(DI)
	ADDQ   R8, SI
	ADDQ   $24, DI
	DECQ   CX
	JNZ    at6loop
	RET
