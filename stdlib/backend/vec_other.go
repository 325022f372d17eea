//go:build !amd64 || purego

package backend

// Never called: useAVX2 is false here.

func maxAVX2(x *float32, n int) (float32, bool)       { panic("backend: no AVX2") }
func scaleAVX2(x *float32, n int, a float32)          { panic("backend: no AVX2") }
func dotAVX2(a, b *float32, n int) float32            { panic("backend: no AVX2") }
func softmaxBackAVX2(d, p *float32, n int, c float32) { panic("backend: no AVX2") }
