package backend

import "math"

// Row kernels of softmax and its backward in precision T. For float32 the
// bulk of each row runs in AVX2 (vec_amd64.s) when the CPU has it; the
// remainder, float64, and other CPUs run the plain loops.

// rowMax is the largest element, NaN if any element is NaN.
func rowMax[T float](x []T) T {
	i, m := 0, x[0]
	if isF32[T]() && useAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		v, nan := maxAVX2(&asF32(x)[0], i)
		if nan {
			return T(math.NaN())
		}
		m = T(v)
	}
	for ; i < len(x); i++ {
		if x[i] != x[i] {
			return x[i]
		}
		if x[i] > m {
			m = x[i]
		}
	}
	return m
}

// rowScale sets x *= a.
func rowScale[T float](x []T, a T) {
	i := 0
	if isF32[T]() && useAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		scaleAVX2(&asF32(x)[0], i, float32(a))
	}
	for ; i < len(x); i++ {
		x[i] *= a
	}
}

// rowDot is Σ a[i]·b[i] over len(a).
func rowDot[T float](a, b []T) T {
	var s T
	i := 0
	if isF32[T]() && useAVX2 && len(a) >= 8 {
		i = len(a) &^ 7
		s = T(dotAVX2(&asF32(a)[0], &asF32(b)[0], i))
	}
	for ; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

// rowSoftmaxBack sets d[i] = p[i]·(d[i] − c) over len(p).
func rowSoftmaxBack[T float](d, p []T, c T) {
	i := 0
	if isF32[T]() && useAVX2 && len(p) >= 8 {
		i = len(p) &^ 7
		softmaxBackAVX2(&asF32(d)[0], &asF32(p)[0], i, float32(c))
	}
	for ; i < len(p); i++ {
		d[i] = p[i] * (d[i] - c)
	}
}
