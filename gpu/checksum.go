package gpu

import "encoding/binary"

// Checksum hashes stored tensor bytes the way the device's esa_checksum
// kernel does (kernels/perturb.cu), so a device copy can be compared with
// the host bytes it should equal: the sum over the little-endian 64-bit
// words (the last zero-padded) of mix64(word + i·φ), the length folded in
// at the end. The sum is order-independent, so the device computes it in
// parallel; the index makes it position-dependent, and mix64 makes any
// changed bit change the result with overwhelming probability.
func Checksum(data []byte) uint64 {
	var sum uint64
	n := len(data)
	for i := 0; 8*i < n; i++ {
		var w uint64
		if 8*i+8 <= n {
			w = binary.LittleEndian.Uint64(data[8*i:])
		} else {
			for b := 8 * i; b < n; b++ {
				w |= uint64(data[b]) << (8 * (b - 8*i))
			}
		}
		sum += mix64(w + uint64(i)*0x9e3779b97f4a7c15)
	}
	return finishChecksum(sum, int64(n))
}

// finishChecksum folds the byte length into the word sum.
func finishChecksum(sum uint64, n int64) uint64 { return mix64(sum ^ uint64(n)) }

// mix64 is splitmix64's finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
