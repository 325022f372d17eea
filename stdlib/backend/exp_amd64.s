//go:build amd64 && !purego

#include "textflag.h"

// Eight-lane copies of the Cephes expf constants (AVX2 has no broadcast
// memory operands), one 32-byte row each.
DATA expc_log2e<>+0(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+4(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+8(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+12(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+16(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+20(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+24(SB)/4, $0x3fb8aa3b
DATA expc_log2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL expc_log2e<>(SB), RODATA|NOPTR, $32

DATA expc_half<>+0(SB)/4, $0x3f000000
DATA expc_half<>+4(SB)/4, $0x3f000000
DATA expc_half<>+8(SB)/4, $0x3f000000
DATA expc_half<>+12(SB)/4, $0x3f000000
DATA expc_half<>+16(SB)/4, $0x3f000000
DATA expc_half<>+20(SB)/4, $0x3f000000
DATA expc_half<>+24(SB)/4, $0x3f000000
DATA expc_half<>+28(SB)/4, $0x3f000000
GLOBL expc_half<>(SB), RODATA|NOPTR, $32

DATA expc_one<>+0(SB)/4, $0x3f800000
DATA expc_one<>+4(SB)/4, $0x3f800000
DATA expc_one<>+8(SB)/4, $0x3f800000
DATA expc_one<>+12(SB)/4, $0x3f800000
DATA expc_one<>+16(SB)/4, $0x3f800000
DATA expc_one<>+20(SB)/4, $0x3f800000
DATA expc_one<>+24(SB)/4, $0x3f800000
DATA expc_one<>+28(SB)/4, $0x3f800000
GLOBL expc_one<>(SB), RODATA|NOPTR, $32

DATA expc_c1<>+0(SB)/4, $0x3f318000
DATA expc_c1<>+4(SB)/4, $0x3f318000
DATA expc_c1<>+8(SB)/4, $0x3f318000
DATA expc_c1<>+12(SB)/4, $0x3f318000
DATA expc_c1<>+16(SB)/4, $0x3f318000
DATA expc_c1<>+20(SB)/4, $0x3f318000
DATA expc_c1<>+24(SB)/4, $0x3f318000
DATA expc_c1<>+28(SB)/4, $0x3f318000
GLOBL expc_c1<>(SB), RODATA|NOPTR, $32

DATA expc_c2<>+0(SB)/4, $0xb95e8083
DATA expc_c2<>+4(SB)/4, $0xb95e8083
DATA expc_c2<>+8(SB)/4, $0xb95e8083
DATA expc_c2<>+12(SB)/4, $0xb95e8083
DATA expc_c2<>+16(SB)/4, $0xb95e8083
DATA expc_c2<>+20(SB)/4, $0xb95e8083
DATA expc_c2<>+24(SB)/4, $0xb95e8083
DATA expc_c2<>+28(SB)/4, $0xb95e8083
GLOBL expc_c2<>(SB), RODATA|NOPTR, $32

DATA expc_p0<>+0(SB)/4, $0x39506967
DATA expc_p0<>+4(SB)/4, $0x39506967
DATA expc_p0<>+8(SB)/4, $0x39506967
DATA expc_p0<>+12(SB)/4, $0x39506967
DATA expc_p0<>+16(SB)/4, $0x39506967
DATA expc_p0<>+20(SB)/4, $0x39506967
DATA expc_p0<>+24(SB)/4, $0x39506967
DATA expc_p0<>+28(SB)/4, $0x39506967
GLOBL expc_p0<>(SB), RODATA|NOPTR, $32

DATA expc_p1<>+0(SB)/4, $0x3ab743ce
DATA expc_p1<>+4(SB)/4, $0x3ab743ce
DATA expc_p1<>+8(SB)/4, $0x3ab743ce
DATA expc_p1<>+12(SB)/4, $0x3ab743ce
DATA expc_p1<>+16(SB)/4, $0x3ab743ce
DATA expc_p1<>+20(SB)/4, $0x3ab743ce
DATA expc_p1<>+24(SB)/4, $0x3ab743ce
DATA expc_p1<>+28(SB)/4, $0x3ab743ce
GLOBL expc_p1<>(SB), RODATA|NOPTR, $32

DATA expc_p2<>+0(SB)/4, $0x3c088908
DATA expc_p2<>+4(SB)/4, $0x3c088908
DATA expc_p2<>+8(SB)/4, $0x3c088908
DATA expc_p2<>+12(SB)/4, $0x3c088908
DATA expc_p2<>+16(SB)/4, $0x3c088908
DATA expc_p2<>+20(SB)/4, $0x3c088908
DATA expc_p2<>+24(SB)/4, $0x3c088908
DATA expc_p2<>+28(SB)/4, $0x3c088908
GLOBL expc_p2<>(SB), RODATA|NOPTR, $32

DATA expc_p3<>+0(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+4(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+8(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+12(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+16(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+20(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+24(SB)/4, $0x3d2aa9c1
DATA expc_p3<>+28(SB)/4, $0x3d2aa9c1
GLOBL expc_p3<>(SB), RODATA|NOPTR, $32

DATA expc_p4<>+0(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+4(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+8(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+12(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+16(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+20(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+24(SB)/4, $0x3e2aaaaa
DATA expc_p4<>+28(SB)/4, $0x3e2aaaaa
GLOBL expc_p4<>(SB), RODATA|NOPTR, $32

DATA expc_p5<>+0(SB)/4, $0x3f000000
DATA expc_p5<>+4(SB)/4, $0x3f000000
DATA expc_p5<>+8(SB)/4, $0x3f000000
DATA expc_p5<>+12(SB)/4, $0x3f000000
DATA expc_p5<>+16(SB)/4, $0x3f000000
DATA expc_p5<>+20(SB)/4, $0x3f000000
DATA expc_p5<>+24(SB)/4, $0x3f000000
DATA expc_p5<>+28(SB)/4, $0x3f000000
GLOBL expc_p5<>(SB), RODATA|NOPTR, $32

DATA expc_hi<>+0(SB)/4, $0x42b0c0a5
DATA expc_hi<>+4(SB)/4, $0x42b0c0a5
DATA expc_hi<>+8(SB)/4, $0x42b0c0a5
DATA expc_hi<>+12(SB)/4, $0x42b0c0a5
DATA expc_hi<>+16(SB)/4, $0x42b0c0a5
DATA expc_hi<>+20(SB)/4, $0x42b0c0a5
DATA expc_hi<>+24(SB)/4, $0x42b0c0a5
DATA expc_hi<>+28(SB)/4, $0x42b0c0a5
GLOBL expc_hi<>(SB), RODATA|NOPTR, $32

DATA expc_lo<>+0(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+4(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+8(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+12(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+16(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+20(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+24(SB)/4, $0xc2b0c0a5
DATA expc_lo<>+28(SB)/4, $0xc2b0c0a5
GLOBL expc_lo<>(SB), RODATA|NOPTR, $32

DATA expc_under<>+0(SB)/4, $0xc2aeac50
DATA expc_under<>+4(SB)/4, $0xc2aeac50
DATA expc_under<>+8(SB)/4, $0xc2aeac50
DATA expc_under<>+12(SB)/4, $0xc2aeac50
DATA expc_under<>+16(SB)/4, $0xc2aeac50
DATA expc_under<>+20(SB)/4, $0xc2aeac50
DATA expc_under<>+24(SB)/4, $0xc2aeac50
DATA expc_under<>+28(SB)/4, $0xc2aeac50
GLOBL expc_under<>(SB), RODATA|NOPTR, $32

DATA expc_over<>+0(SB)/4, $0x42b17218
DATA expc_over<>+4(SB)/4, $0x42b17218
DATA expc_over<>+8(SB)/4, $0x42b17218
DATA expc_over<>+12(SB)/4, $0x42b17218
DATA expc_over<>+16(SB)/4, $0x42b17218
DATA expc_over<>+20(SB)/4, $0x42b17218
DATA expc_over<>+24(SB)/4, $0x42b17218
DATA expc_over<>+28(SB)/4, $0x42b17218
GLOBL expc_over<>(SB), RODATA|NOPTR, $32

DATA expc_inf<>+0(SB)/4, $0x7f800000
DATA expc_inf<>+4(SB)/4, $0x7f800000
DATA expc_inf<>+8(SB)/4, $0x7f800000
DATA expc_inf<>+12(SB)/4, $0x7f800000
DATA expc_inf<>+16(SB)/4, $0x7f800000
DATA expc_inf<>+20(SB)/4, $0x7f800000
DATA expc_inf<>+24(SB)/4, $0x7f800000
DATA expc_inf<>+28(SB)/4, $0x7f800000
GLOBL expc_inf<>(SB), RODATA|NOPTR, $32

DATA expc_i127<>+0(SB)/4, $0x0000007f
DATA expc_i127<>+4(SB)/4, $0x0000007f
DATA expc_i127<>+8(SB)/4, $0x0000007f
DATA expc_i127<>+12(SB)/4, $0x0000007f
DATA expc_i127<>+16(SB)/4, $0x0000007f
DATA expc_i127<>+20(SB)/4, $0x0000007f
DATA expc_i127<>+24(SB)/4, $0x0000007f
DATA expc_i127<>+28(SB)/4, $0x0000007f
GLOBL expc_i127<>(SB), RODATA|NOPTR, $32

// func expSumAVX2(dst, src *float32, n int, a, b float32) float32
// dst[i] = e^(a·src[i]+b) for i < n (n a multiple of 8); returns Σ dst[i].
// Same algorithm as expf in cpu.go: x clamped to ±88.376, 2^⌊x·log2e+½⌋
// times a degree-6 polynomial of the remainder; then x > 88.72 gives +Inf,
// x < -87.34 gives 0 and NaN stays NaN.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y0
	VBROADCASTSS b+28(FP), Y14
	VXORPS Y1, Y1, Y1
	VMOVUPS expc_log2e<>(SB), Y15

loop:
	CMPQ CX, $8
	JL   done
	VMOVUPS (SI), Y2
	VFMADD213PS Y14, Y0, Y2 // x = a·src + b

	VCMPPS $0x1e, expc_over<>(SB), Y2, Y3  // x > over
	VCMPPS $0x11, expc_under<>(SB), Y2, Y4 // x < under
	VCMPPS $3, Y2, Y2, Y5                  // x is NaN
	VMINPS expc_hi<>(SB), Y2, Y6
	VMAXPS expc_lo<>(SB), Y6, Y6           // clamped x

	VMOVAPS Y6, Y7
	VFMADD213PS expc_half<>(SB), Y15, Y7 // x·log2e + ½
	VROUNDPS $1, Y7, Y7                  // n = floor(...)
	VFNMADD231PS expc_c1<>(SB), Y7, Y6  // r = x − n·C1
	VFNMADD231PS expc_c2<>(SB), Y7, Y6  //     − n·C2
	VMULPS Y6, Y6, Y8                   // z = r²

	VMOVUPS expc_p0<>(SB), Y9
	VFMADD213PS expc_p1<>(SB), Y6, Y9
	VFMADD213PS expc_p2<>(SB), Y6, Y9
	VFMADD213PS expc_p3<>(SB), Y6, Y9
	VFMADD213PS expc_p4<>(SB), Y6, Y9
	VFMADD213PS expc_p5<>(SB), Y6, Y9
	VFMADD213PS Y6, Y8, Y9              // y = poly·z + r
	VADDPS expc_one<>(SB), Y9, Y9       // y += 1

	VCVTTPS2DQ Y7, Y10
	VPADDD expc_i127<>(SB), Y10, Y10
	VPSLLD $23, Y10, Y10                // 2^n
	VMULPS Y10, Y9, Y9

	VBLENDVPS Y3, expc_inf<>(SB), Y9, Y9
	VANDNPS Y9, Y4, Y9
	VBLENDVPS Y5, Y2, Y9, Y9

	VMOVUPS Y9, (DI)
	VADDPS Y9, Y1, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop

done:
	VEXTRACTF128 $1, Y1, X2
	VADDPS X2, X1, X1
	VHADDPS X1, X1, X1
	VHADDPS X1, X1, X1
	VZEROUPPER
	MOVSS X1, ret+32(FP)
	RET
