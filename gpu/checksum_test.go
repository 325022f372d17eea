package gpu

import (
	"math/rand/v2"
	"testing"
)

// TestChecksumSeesEveryBit: flipping any single bit of buffers of every
// length mod 8 (the kernel's tail case) changes the checksum, as does
// swapping two different words (the index makes it position-dependent)
// and appending a zero byte (the length is folded in).
func TestChecksumSeesEveryBit(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 41; n++ {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		base := Checksum(data)
		for i := range data {
			for bit := 0; bit < 8; bit++ {
				data[i] ^= 1 << bit
				if Checksum(data) == base {
					t.Fatalf("len %d: flipping bit %d of byte %d leaves the checksum", n, bit, i)
				}
				data[i] ^= 1 << bit
			}
		}
		if Checksum(data) != base {
			t.Fatal("checksum not deterministic")
		}
		if Checksum(append(data[:n:n], 0)) == base {
			t.Fatalf("len %d: appending a zero byte leaves the checksum", n)
		}
		if n >= 16 {
			sw := append([]byte(nil), data...)
			copy(sw[0:8], data[8:16])
			copy(sw[8:16], data[0:8])
			if string(sw[:16]) != string(data[:16]) && Checksum(sw) == base {
				t.Fatalf("len %d: swapping the first two words leaves the checksum", n)
			}
		}
	}
}
