package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"esa/stdlib/esa/rng"
)

// DefaultReservoir is the sample size Stream keeps for quantiles: exact up
// to this many values; beyond, a uniform sample whose p99 has a rank error
// of about √(0.99·0.01/65536) ≈ 0.04 percentage points.
const DefaultReservoir = 1 << 16

// Stream summarises a long stream of scores in O(reservoir) memory: count,
// mean and standard deviation (Welford, float64), min and max exactly, and
// p95/p99 from a uniform reservoir sample (Li's algorithm L), which is exact
// while the stream is no longer than the reservoir.
type Stream struct {
	n        int64
	mean, m2 float64
	min, max float64
	cap      int
	sample   []float64
	r        *rand.Rand
	w        float64 // algorithm L state
	next     int64   // index of the next element to enter the reservoir
}

// NewStream makes a stream keeping up to reservoir values (0: DefaultReservoir),
// with its sampling drawn from seed.
func NewStream(reservoir int, seed uint64) *Stream {
	if reservoir <= 0 {
		reservoir = DefaultReservoir
	}
	return &Stream{cap: reservoir, min: math.Inf(1), max: math.Inf(-1), r: rng.New(seed, "score_reservoir")}
}

// Add feeds values in stream order.
func (s *Stream) Add(x []float32) {
	for _, v32 := range x {
		v := float64(v32)
		s.n++
		d := v - s.mean
		s.mean += d / float64(s.n)
		s.m2 += d * (v - s.mean)
		if v < s.min {
			s.min = v
		}
		if v > s.max {
			s.max = v
		}
		i := s.n - 1 // index of v in the stream
		switch {
		case len(s.sample) < s.cap:
			s.sample = append(s.sample, v)
			if len(s.sample) == s.cap {
				s.w = math.Exp(math.Log(s.r.Float64()) / float64(s.cap))
				s.skip(i)
			}
		case i == s.next:
			s.sample[s.r.IntN(s.cap)] = v
			s.w *= math.Exp(math.Log(s.r.Float64()) / float64(s.cap))
			s.skip(i)
		}
	}
}

// skip draws the index of the next element to enter a full reservoir
// (algorithm L: geometric jumps, so most elements cost no random draw).
func (s *Stream) skip(i int64) {
	u := s.r.Float64()
	for u == 0 {
		u = s.r.Float64()
	}
	s.next = i + 1 + int64(math.Floor(math.Log(u)/math.Log1p(-s.w)))
}

// TensorStats is the distribution of one tensor's scores.
type TensorStats struct {
	Count          int64   `json:"count"`
	Mean           float64 `json:"mean"`
	Std            float64 `json:"std"` // population std over every score of the tensor
	Min            float64 `json:"min"`
	Max            float64 `json:"max"`
	P95            float64 `json:"p95"`
	P99            float64 `json:"p99"`
	QuantileMethod string  `json:"quantile_method"`
}

// Result summarises what was added so far.
func (s *Stream) Result() TensorStats {
	t := TensorStats{Count: s.n, Mean: s.mean, Min: s.min, Max: s.max}
	if s.n == 0 {
		nan := math.NaN()
		return TensorStats{Mean: nan, Std: nan, Min: nan, Max: nan, P95: nan, P99: nan, QuantileMethod: "none (no values)"}
	}
	t.Std = math.Sqrt(s.m2 / float64(s.n))
	sorted := slices.Clone(s.sample)
	t.P95 = Quantile(sorted, 0.95)
	t.P99 = Quantile(sorted, 0.99)
	if s.n <= int64(s.cap) {
		t.QuantileMethod = "exact (linear interpolation, numpy default)"
	} else {
		t.QuantileMethod = fmt.Sprintf("uniform reservoir sample of %d of %d values (linear interpolation)", s.cap, s.n)
	}
	return t
}

// Sample returns the reservoir (every value while the stream is short):
// a uniform sample of the stream for distribution plots.
func (s *Stream) Sample() []float64 { return slices.Clone(s.sample) }
