package tensor

import (
	"math"
	"testing"
)

// Every finite half-precision pattern must survive widening and narrowing
// unchanged: widening is exact, so rounding back must find the same value.
func TestHalfRoundTripExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		b := uint16(h)
		if f := BF16ToF32(b); !isNaN32(f) && F32ToBF16(f) != b {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", b, f, F32ToBF16(f))
		}
		if f := F16ToF32(b); !isNaN32(f) && F32ToF16(f) != b {
			t.Fatalf("f16 %#04x -> %v -> %#04x", b, f, F32ToF16(f))
		}
	}
}

// Known encodings from the IEEE 754 / bfloat16 definitions, computed by hand:
// 1.0 = 0x3C00 (f16) / 0x3F80 (bf16); 65504 is the largest f16; 2^-24 the
// smallest f16 subnormal; 0.01 in bf16 is 0x3C24 (0.01 = 1.28·2^-7, mantissa
// 0.28·128 = 35.84 → 36 = 0x24 after rounding).
func TestHalfKnownValues(t *testing.T) {
	cases := []struct {
		f    float32
		f16  uint16
		bf16 uint16
	}{
		{1, 0x3C00, 0x3F80},
		{-2, 0xC000, 0xC000},
		{65504, 0x7BFF, 0x4780}, // f32 0x477FE000: the low half 0xE000 rounds bf16 up to 65536
		{float32(math.Ldexp(1, -24)), 0x0001, 0x3380},
		{0.01, 0x211F, 0x3C24},
		{float32(math.Inf(1)), 0x7C00, 0x7F80},
		{1e6, 0x7C00, 0x4974}, // overflows f16 to +Inf
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.f16 {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.f, got, c.f16)
		}
		if got := F32ToBF16(c.f); got != c.bf16 {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", c.f, got, c.bf16)
		}
	}
	// Ties go to even: 1 + 2^-11 lies halfway between f16 1.0 and 1+2^-10.
	if got := F32ToF16(1 + float32(math.Ldexp(1, -11))); got != 0x3C00 {
		t.Errorf("f16 tie rounded to %#04x, want even 0x3C00", got)
	}
	if got := F32ToBF16(math.Float32frombits(0x3F808000)); got != 0x3F80 {
		t.Errorf("bf16 tie rounded to %#04x, want even 0x3F80", got)
	}
	if !isNaN32(BF16ToF32(F32ToBF16(float32(math.NaN())))) || !isNaN32(F16ToF32(F32ToF16(float32(math.NaN())))) {
		t.Error("NaN did not stay NaN")
	}
}

func TestTensorSetAtConvert(t *testing.T) {
	x := FromF32("w", []float32{0.5, -1.25, 3e-3, 100}, 2, 2)
	if x.Rows() != 2 || x.Cols() != 2 || x.Bytes() != 16 {
		t.Fatalf("shape accessors: %d %d %d", x.Rows(), x.Cols(), x.Bytes())
	}
	b := x.Convert(BF16)
	for i := 0; i < 4; i++ {
		want := float64(BF16ToF32(F32ToBF16(x.F32()[i])))
		if b.At(i) != want {
			t.Fatalf("bf16 element %d = %v, want %v", i, b.At(i), want)
		}
	}
	b.Set(1, 2)
	if b.At(1) != 2 || b.Bits(1) != 0x4000 {
		t.Fatalf("Set/Bits: %v %#x", b.At(1), b.Bits(1))
	}
	b.SetBits(0, 0x3F80)
	if b.At(0) != 1 {
		t.Fatalf("SetBits: %v", b.At(0))
	}
	got := make([]float32, 2)
	b.ReadF32(2, got)
	if got[1] != 100 {
		t.Fatalf("ReadF32 %v", got)
	}
}

func isNaN32(f float32) bool { return f != f }
