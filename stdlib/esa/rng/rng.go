// Package rng derives the seeded random streams of an ESA run. Each purpose
// (a control set, Gaussian noise, bit choices, Hutchinson probes, sampled
// labels, calibration resamples) gets its own PCG stream from (seed, purpose),
// so adding a random choice in one place never shifts the numbers drawn in
// another, and every result is reproducible from its seed.
package rng

import (
	"hash/fnv"
	"math/rand/v2"
)

// New returns the stream for seed and purpose.
func New(seed uint64, purpose string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
