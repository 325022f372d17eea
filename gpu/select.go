package gpu

import (
	"fmt"
	"math"
	"sort"

	"esa/stdlib/esa/rank"
	"esa/stdlib/tensor"
)

// Metric says how the device computes a tensor's scores (select.cu).
type Metric int

// Metrics the device computes on the fly.
const (
	// MetricScores: ScoreTensor.Scores holds the scores themselves (any
	// metric computed elsewhere: grad_squared, hessian_diag, act_mag, ...).
	MetricScores Metric = 0
	// MetricMagnitude: |w| from the stored weights.
	MetricMagnitude Metric = 1
	// MetricGradXWeight: |g ⊙ w| with g in ScoreTensor.Scores, one float32
	// rounding of the product, as package sensitivity computes it.
	MetricGradXWeight Metric = 2
)

// selectChunk is the number of scores one block of the tie-gathering
// kernels covers (esa_select_count_eq, esa_select_gather_eq).
const selectChunk = 1 << 14

// hit is one selected score: key = tensor<<40 | flat, as rank.Key.
type hit struct {
	key   uint64
	score float32
}

// selector is the device side of the radix selection in radixSelect; the
// CUDA backend implements it with the kernels of select.cu, and
// select_sim_test.go with a Go model of them. Tensors are indices into the
// caller's list of scored tensors.
type selector interface {
	// length is the number of scores of tensor t.
	length(t int) int64
	// hist returns, over the tensors ts, the histogram by digit
	// (key>>shift)&(2^width−1) of the keys with key&mask == prefix, and the
	// number of NaN scores of each tensor of ts.
	hist(ts []int, bottom bool, shift, width uint, prefix, mask uint32) (h []uint64, nans []uint64, err error)
	// gatherAbove returns every score of ts whose key is above thresh, in
	// any order; at most max of them.
	gatherAbove(ts []int, bottom bool, thresh uint32, max int) ([]hit, error)
	// countEq returns, per chunk of selectChunk scores of tensor t, how many
	// keys equal thresh.
	countEq(t int, bottom bool, thresh uint32) ([]uint64, error)
	// gatherEq returns, in flat order, the first limit scores of tensor t
	// whose key equals thresh; off is the exclusive prefix sum of countEq.
	gatherEq(t int, bottom bool, thresh uint32, off []uint64, limit uint64) ([]hit, error)
}

// orderKey maps a score to the uint32 whose unsigned order is the float
// order, −0 and +0 equal (as the ranking's comparisons treat them); for
// bottom selection the order is reversed. NaN has no order: callers reject
// it first. select.cu's key() is the same function.
func orderKey(s float32, bottom bool) uint32 {
	b := math.Float32bits(s)
	if b == 0x80000000 {
		b = 0
	}
	k := b | 0x80000000
	if b&0x80000000 != 0 {
		k = ^b
	}
	if bottom {
		return ^k
	}
	return k
}

// radixPasses are the digit (shift, width) of each histogram pass: 11, 11
// and 10 bits, so one block's histogram (2048 counters) fits shared memory.
var radixPasses = [3][2]uint{{21, 11}, {10, 11}, {0, 10}}

// pickDigit finds, scanning from the highest digit down, the digit d that
// holds the k-th largest key: above = count of keys in digits > d, with
// above < k ≤ above + h[d]. k must be ≥ 1 and ≤ the histogram's total.
func pickDigit(h []uint64, k uint64) (d int, above uint64) {
	for d = len(h) - 1; d >= 0; d-- {
		if above+h[d] >= k {
			return d, above
		}
		above += h[d]
	}
	return -1, above
}

// radixSelect returns the k scores of tensors ts with the largest keys (the
// top k, or the bottom k when bottom), ties at the boundary broken toward the
// earlier tensor and lower flat index as package rank does. The result is
// unordered; only O(k) values come back from the device.
func radixSelect(sel selector, names []string, ts []int, k int, bottom bool) ([]hit, error) {
	var total uint64
	for _, t := range ts {
		total += uint64(sel.length(t))
	}
	if k <= 0 || total == 0 {
		return nil, nil
	}
	want := uint64(k)
	var prefix, mask uint32
	for p, pass := range radixPasses {
		shift, width := pass[0], pass[1]
		h, nans, err := sel.hist(ts, bottom, shift, width, prefix, mask)
		if err != nil {
			return nil, err
		}
		if p == 0 {
			for j, n := range nans {
				if n > 0 {
					return nil, fmt.Errorf("rank: %d NaN scores in %s: the metric overflowed or broke", n, names[ts[j]])
				}
			}
			if want >= total { // everything is selected
				return sel.gatherAbove(ts, bottom, 0, int(total))
			}
		}
		d, above := pickDigit(h, want)
		if d < 0 {
			return nil, fmt.Errorf("gpu: selection histogram holds %d keys, fewer than the %d sought (device inconsistency)", above, want)
		}
		want -= above
		prefix |= uint32(d) << shift
		mask |= (1<<width - 1) << shift
	}
	// prefix is now the k-th key itself; want (≥ 1) of the keys equal to it
	// are taken, and all k−want keys above it.
	thresh, ties := prefix, want
	hits, err := sel.gatherAbove(ts, bottom, thresh, k-int(ties))
	if err != nil {
		return nil, err
	}
	if len(hits) != k-int(ties) {
		return nil, fmt.Errorf("gpu: gathered %d scores above the threshold, histograms said %d (device inconsistency)", len(hits), k-int(ties))
	}
	for _, t := range ts {
		if ties == 0 {
			break
		}
		counts, err := sel.countEq(t, bottom, thresh)
		if err != nil {
			return nil, err
		}
		off := make([]uint64, len(counts))
		var n uint64
		for i, c := range counts {
			off[i] = n
			n += c
		}
		if n == 0 {
			continue
		}
		take := min(ties, n)
		eq, err := sel.gatherEq(t, bottom, thresh, off, take)
		if err != nil {
			return nil, err
		}
		if uint64(len(eq)) != take {
			return nil, fmt.Errorf("gpu: gathered %d tied scores in %s, expected %d (device inconsistency)", len(eq), names[t], take)
		}
		hits = append(hits, eq...)
		ties -= take
	}
	if ties != 0 {
		return nil, fmt.Errorf("gpu: %d tied scores missing after the gather (device inconsistency)", ties)
	}
	return hits, nil
}

// sortHits orders hits as package rank orders a set: best score first
// (highest for top, lowest for bottom), ties to the earlier tensor, then the
// lower flat index.
func sortHits(h []hit, bottom bool) []rank.Entry {
	sort.Slice(h, func(a, b int) bool {
		sa, sb := h[a].score, h[b].score
		if sa != sb {
			if bottom {
				return sa < sb
			}
			return sa > sb
		}
		return h[a].key < h[b].key
	})
	out := make([]rank.Entry, len(h))
	for i, x := range h {
		out[i] = rank.Entry{Tensor: int(x.key >> 40), Flat: int64(x.key & (1<<40 - 1)), Score: x.score}
	}
	return out
}

// selectSets runs the selections opt asks for (as rank.Select) on sel.
func selectSets(sel selector, names []string, opt rank.Options) (top, bottom *rank.Set, err error) {
	if opt.K <= 0 {
		return nil, nil, fmt.Errorf("rank: k must be positive, got %d", opt.K)
	}
	if !opt.Top && !opt.Bottom {
		return nil, nil, fmt.Errorf("rank: nothing to select (neither top nor bottom)")
	}
	for i, name := range names {
		if sel.length(i) >= 1<<40 || i >= 1<<23 {
			return nil, nil, fmt.Errorf("rank: tensor %s too large to index", name)
		}
	}
	one := func(isBottom bool) (*rank.Set, error) {
		kind := "top_k"
		if isBottom {
			kind = "bottom_k"
		}
		set := &rank.Set{Kind: kind, Global: opt.Global, K: opt.K}
		if opt.Global {
			all := make([]int, len(names))
			for i := range all {
				all[i] = i
			}
			h, err := radixSelect(sel, names, all, opt.K, isBottom)
			if err != nil {
				return nil, err
			}
			set.Entries = sortHits(h, isBottom)
			return set, nil
		}
		for i := range names {
			h, err := radixSelect(sel, names, []int{i}, opt.K, isBottom)
			if err != nil {
				return nil, err
			}
			set.Entries = append(set.Entries, sortHits(h, isBottom)...)
		}
		return set, nil
	}
	if opt.Top {
		if top, err = one(false); err != nil {
			return nil, nil, err
		}
	}
	if opt.Bottom {
		if bottom, err = one(true); err != nil {
			return nil, nil, err
		}
	}
	return top, bottom, nil
}

// ScoreTensor is one tensor's scores for Device.Select, computed on the
// device by Metric from Scores (a device buffer: the scores, or the
// gradient for MetricGradXWeight) and Weight (the stored weights, for
// MetricMagnitude and MetricGradXWeight).
type ScoreTensor struct {
	Name   string
	Metric Metric
	Scores interface{ Len() int } // a backend.Buffer of the GPU backend
	Weight *tensor.Tensor
}

// length is the number of scores of s.
func (s ScoreTensor) length() int64 {
	if s.Weight != nil {
		return int64(s.Weight.Len())
	}
	if s.Scores != nil {
		return int64(s.Scores.Len())
	}
	return 0
}

// check reports what is missing or mismatched in s.
func (s ScoreTensor) check() error {
	switch s.Metric {
	case MetricScores:
		if s.Scores == nil {
			return fmt.Errorf("gpu: %s: MetricScores needs Scores", s.Name)
		}
	case MetricMagnitude:
		if s.Weight == nil {
			return fmt.Errorf("gpu: %s: MetricMagnitude needs Weight", s.Name)
		}
	case MetricGradXWeight:
		if s.Weight == nil || s.Scores == nil {
			return fmt.Errorf("gpu: %s: MetricGradXWeight needs Weight and the gradient in Scores", s.Name)
		}
		if s.Scores.Len() < s.Weight.Len() {
			return fmt.Errorf("gpu: %s: gradient holds %d values, weight %d", s.Name, s.Scores.Len(), s.Weight.Len())
		}
	default:
		return fmt.Errorf("gpu: %s: unknown metric %d (valid: MetricScores, MetricMagnitude, MetricGradXWeight)", s.Name, s.Metric)
	}
	return nil
}
