package backend

import "math"

// expSum sets dst[i] = e^(a·src[i]+b) and returns Σ dst[i] (summed in
// float32, eight lanes at a time). dst may be src. Softmax, cross-entropy
// and SiLU spend most of their time here, so the bulk runs in AVX2 when the
// CPU has it and the tail (or everything, elsewhere) in expf.
func expSum(dst, src []float32, a, b float32) float32 {
	n := len(src)
	dst = dst[:n]
	var s float32
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		s = expSumAVX2(&dst[0], &src[0], i, a, b)
	}
	for ; i < n; i++ {
		e := expf(a*src[i] + b)
		dst[i] = e
		s += e
	}
	return s
}

// expInto sets dst[i] = e^(a·src[i]+b) in precision T and returns the sum:
// expSum for float32, math.Exp for float64.
func expInto[T float](dst, src []T, a, b T) T {
	if isF32[T]() {
		return T(expSum(asF32(dst), asF32(src), float32(a), float32(b)))
	}
	var s T
	for i, v := range src {
		e := T(math.Exp(float64(a*v + b)))
		dst[i] = e
		s += e
	}
	return s
}

// isF32 reports whether T is float32 (boxing a zero value does not allocate).
func isF32[T float]() bool {
	var zero T
	_, ok := any(zero).(float32)
	return ok
}
