//go:build amd64 && !purego

package backend

import xcpu "golang.org/x/sys/cpu"

// useAVX2 selects the vector exponential (AVX2 + FMA, with OS support for
// the YMM registers).
var useAVX2 = xcpu.X86.HasAVX2 && xcpu.X86.HasFMA

// expSumAVX2 is implemented in exp_amd64.s.
//
//go:noescape
func expSumAVX2(dst, src *float32, n int, a, b float32) float32
