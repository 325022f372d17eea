//go:build amd64 && !purego

package backend

// Implemented in vec_amd64.s; n is a positive multiple of 8.

//go:noescape
func maxAVX2(x *float32, n int) (m float32, nan bool)

//go:noescape
func scaleAVX2(x *float32, n int, a float32)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func softmaxBackAVX2(d, p *float32, n int, c float32)
