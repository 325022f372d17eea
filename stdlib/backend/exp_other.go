//go:build !amd64 || purego

package backend

// useAVX2 is false off amd64 (or with the purego tag): expSum runs expf.
const useAVX2 = false

func expSumAVX2(dst, src *float32, n int, a, b float32) float32 {
	panic("backend: expSumAVX2 without AVX2")
}
