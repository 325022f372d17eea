package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"esa/stdlib/esa/rank"
)

// simSelector is a Go model of the kernels in kernels/select.cu, statement
// for statement where order matters (the chunked, tiled compaction of
// esa_select_gather_eq), so that radixSelect — the host half of the device
// selection — is tested against package rank without a GPU. The kernels
// themselves are checked against rank.Select on a GPU by the cuda tests.
type simSelector struct {
	scores [][]float32
	rng    *rand.Rand
}

func (s *simSelector) length(t int) int64 { return int64(len(s.scores[t])) }

func (s *simSelector) hist(ts []int, bottom bool, shift, width uint, prefix, mask uint32) ([]uint64, []uint64, error) {
	h := make([]uint64, 1<<width)
	nans := make([]uint64, len(ts))
	for j, t := range ts {
		for _, v := range s.scores[t] {
			if v != v {
				nans[j]++
				continue
			}
			k := orderKey(v, bottom)
			if k&mask == prefix {
				h[(k>>shift)&(1<<width-1)]++
			}
		}
	}
	return h, nans, nil
}

func (s *simSelector) gatherAbove(ts []int, bottom bool, thresh uint32, max int) ([]hit, error) {
	var out []hit
	count := 0
	for _, t := range ts {
		for i, v := range s.scores[t] {
			if v != v || orderKey(v, bottom) <= thresh {
				continue
			}
			if count < max {
				out = append(out, hit{uint64(t)<<40 | uint64(i), v})
			}
			count++
		}
	}
	if count > max {
		return nil, fmt.Errorf("%d above, room for %d", count, max)
	}
	// The kernel's atomics give any order.
	s.rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out, nil
}

func (s *simSelector) countEq(t int, bottom bool, thresh uint32) ([]uint64, error) {
	sc := s.scores[t]
	out := make([]uint64, (len(sc)+selectChunk-1)/selectChunk)
	for b := range out {
		for i := b * selectChunk; i < min(len(sc), (b+1)*selectChunk); i++ {
			if v := sc[i]; v == v && orderKey(v, bottom) == thresh {
				out[b]++
			}
		}
	}
	return out, nil
}

// gatherEq follows esa_select_gather_eq: per chunk (block), tiles of 256
// threads, slot = run + matches before it in the tile; write if < limit.
func (s *simSelector) gatherEq(t int, bottom bool, thresh uint32, off []uint64, limit uint64) ([]hit, error) {
	const threads = 256
	sc := s.scores[t]
	out := make([]hit, limit)
	written := make([]bool, limit)
	for b := range off {
		run := off[b]
		lo, hi := b*selectChunk, min(len(sc), (b+1)*selectChunk)
		for t0 := lo; t0 < hi && run < limit; t0 += threads {
			var before uint64
			for i := t0; i < min(t0+threads, hi); i++ {
				v := sc[i]
				if v != v || orderKey(v, bottom) != thresh {
					continue
				}
				if slot := run + before; slot < limit {
					if written[slot] {
						return nil, fmt.Errorf("slot %d written twice", slot)
					}
					out[slot], written[slot] = hit{uint64(t)<<40 | uint64(i), v}, true
				}
				before++
			}
			run += before
		}
	}
	for j, w := range written {
		if !w {
			return nil, fmt.Errorf("slot %d of %d never written", j, limit)
		}
	}
	return out, nil
}

// sliceSource is a rank.Source over host scores.
type sliceSource struct {
	info   []rank.TensorInfo
	scores [][]float32
}

func (s sliceSource) Tensors() []rank.TensorInfo { return s.info }
func (s sliceSource) ScoreRange(i int, start int64, dst []float32) error {
	copy(dst, s.scores[i][start:])
	return nil
}

// scoreSets are score patterns that stress the selection: continuous
// values, heavy ties (few distinct values, so the k-th value is shared by
// thousands of scores across tensors and chunks), signed values with −0, +0
// and infinities.
func scoreSets(r *rand.Rand) map[string][][]float32 {
	sizes := []int{3000, 1, 40000, 0, 17000}
	gen := func(f func() float32) [][]float32 {
		out := make([][]float32, len(sizes))
		for t, n := range sizes {
			out[t] = make([]float32, n)
			for i := range out[t] {
				out[t][i] = f()
			}
		}
		return out
	}
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.MaxFloat32}
	return map[string][][]float32{
		"abs-normal": gen(func() float32 { return float32(math.Abs(r.NormFloat64())) }),
		"ties":       gen(func() float32 { return float32(r.IntN(5)) * 0.25 }),
		"signed": gen(func() float32 {
			if r.IntN(10) == 0 {
				return special[r.IntN(len(special))]
			}
			return float32(r.NormFloat64() * 1e3)
		}),
	}
}

func TestRadixSelectMatchesRank(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for name, scores := range scoreSets(r) {
		src := sliceSource{scores: scores}
		var names []string
		var total int
		for i, sc := range scores {
			names = append(names, fmt.Sprintf("t%d", i))
			src.info = append(src.info, rank.TensorInfo{Name: names[i], Shape: []int{len(sc)}})
			total += len(sc)
		}
		for _, global := range []bool{true, false} {
			for _, k := range []int{1, 7, 100, 2999, 5000, total - 1, total, total + 10} {
				opt := rank.Options{K: k, Global: global, Top: true, Bottom: true}
				t.Run(fmt.Sprintf("%s/global=%v/k=%d", name, global, k), func(t *testing.T) {
					wantTop, wantBot, err := rank.Select(context.Background(), src, opt)
					if err != nil {
						t.Fatal(err)
					}
					sim := &simSelector{scores: scores, rng: rand.New(rand.NewPCG(uint64(k), 9))}
					gotTop, gotBot, err := selectSets(sim, names, opt)
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range []struct{ got, want *rank.Set }{{gotTop, wantTop}, {gotBot, wantBot}} {
						if c.got.Kind != c.want.Kind || c.got.Global != c.want.Global || c.got.K != c.want.K {
							t.Fatalf("set header %s/%v/%d, want %s/%v/%d", c.got.Kind, c.got.Global, c.got.K, c.want.Kind, c.want.Global, c.want.K)
						}
						if !slices.EqualFunc(c.got.Entries, c.want.Entries, func(a, b rank.Entry) bool {
							return a.Tensor == b.Tensor && a.Flat == b.Flat && math.Float32bits(a.Score) == math.Float32bits(b.Score)
						}) {
							n := min(len(c.got.Entries), len(c.want.Entries))
							for i := 0; i < n; i++ {
								if c.got.Entries[i] != c.want.Entries[i] {
									t.Fatalf("%s: %d entries, want %d; first difference at %d: %+v, want %+v", c.want.Kind, len(c.got.Entries), len(c.want.Entries), i, c.got.Entries[i], c.want.Entries[i])
								}
							}
							t.Fatalf("%s: %d entries, want %d", c.want.Kind, len(c.got.Entries), len(c.want.Entries))
						}
					}
				})
			}
		}
	}
}

func TestRadixSelectRejectsNaN(t *testing.T) {
	scores := [][]float32{{1, 2}, {3, float32(math.NaN()), 4}}
	sim := &simSelector{scores: scores, rng: rand.New(rand.NewPCG(1, 1))}
	_, _, err := selectSets(sim, []string{"a", "b"}, rank.Options{K: 1, Global: true, Top: true})
	if err == nil || !strings.Contains(err.Error(), "1 NaN scores in b") {
		t.Fatalf("err = %v, want one naming 1 NaN score in b", err)
	}
}

func TestOrderKeyOrdersFloats(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32, 0, math.SmallestNonzeroFloat32, 1, math.MaxFloat32, float32(math.Inf(1))}
	for i := 1; i < len(vals); i++ {
		if !(orderKey(vals[i-1], false) < orderKey(vals[i], false)) {
			t.Errorf("key(%g) ≥ key(%g)", vals[i-1], vals[i])
		}
		if !(orderKey(vals[i-1], true) > orderKey(vals[i], true)) {
			t.Errorf("bottom key(%g) ≤ bottom key(%g)", vals[i-1], vals[i])
		}
	}
	if orderKey(float32(math.Copysign(0, -1)), false) != orderKey(0, false) {
		t.Error("−0 and +0 have different keys")
	}
}
