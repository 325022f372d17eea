package rng

import "testing"

func TestStreams(t *testing.T) {
	a, b := New(7, "noise"), New(7, "noise")
	c, d := New(7, "bits"), New(8, "noise")
	same, diffPurpose, diffSeed := true, 0, 0
	for i := 0; i < 100; i++ {
		x := a.Uint64()
		same = same && x == b.Uint64()
		if x == c.Uint64() {
			diffPurpose++
		}
		if x == d.Uint64() {
			diffSeed++
		}
	}
	if !same || diffPurpose > 1 || diffSeed > 1 {
		t.Fatalf("reproducible %v, collisions with another purpose %d, another seed %d", same, diffPurpose, diffSeed)
	}
}
