package rank

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
)

// memSource holds scores in memory (for the exactness tests).
type memSource struct {
	info   []TensorInfo
	scores [][]float32
}

func (m *memSource) Tensors() []TensorInfo { return m.info }
func (m *memSource) ScoreRange(i int, start int64, dst []float32) error {
	copy(dst, m.scores[i][start:])
	return nil
}

// randomSource makes tensors of assorted shapes whose scores come from only
// `levels` distinct values, so ties are everywhere.
func randomSource(r *rand.Rand, levels int) *memSource {
	shapes := [][]int{{7, 5}, {1}, {3, 4, 2}, {64, 9}, {2, 2}, {33}, {5, 1}, {100, 3}}
	m := &memSource{}
	for i, sh := range shapes {
		t := TensorInfo{Name: string(rune('a' + i)), Shape: sh}
		s := make([]float32, t.Len())
		for j := range s {
			s[j] = float32(r.IntN(levels)) / 4
		}
		m.info = append(m.info, t)
		m.scores = append(m.scores, s)
	}
	return m
}

// fullSort is the reference: every (tensor, flat) sorted by the spec's order.
func fullSort(m *memSource, top, global bool, k int) []Entry {
	order := func(e []Entry) {
		sort.SliceStable(e, func(i, j int) bool {
			a, b := e[i], e[j]
			if a.Score != b.Score {
				if top {
					return a.Score > b.Score
				}
				return a.Score < b.Score
			}
			if a.Tensor != b.Tensor {
				return a.Tensor < b.Tensor
			}
			return a.Flat < b.Flat
		})
	}
	var out []Entry
	if global {
		var all []Entry
		for i, s := range m.scores {
			for j, v := range s {
				all = append(all, Entry{i, int64(j), v})
			}
		}
		order(all)
		return all[:min(k, len(all))]
	}
	for i, s := range m.scores {
		var one []Entry
		for j, v := range s {
			one = append(one, Entry{i, int64(j), v})
		}
		order(one)
		out = append(out, one[:min(k, len(one))]...)
	}
	return out
}

func TestSelectEqualsFullSortWithTies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 40; trial++ {
		levels := []int{1, 2, 3, 7, 1000}[trial%5]
		m := randomSource(r, levels)
		for _, global := range []bool{false, true} {
			for _, k := range []int{1, 3, 17, 250, 5000} {
				opt := Options{K: k, Global: global, Top: true, Bottom: true,
					Workers: 1 + trial%4, BlockSize: 1 + trial*3%11}
				top, bot, err := Select(context.Background(), m, opt)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					got   *Set
					isTop bool
				}{{top, true}, {bot, false}} {
					want := fullSort(m, c.isTop, global, k)
					if len(c.got.Entries) != len(want) {
						t.Fatalf("levels %d global %v k %d top %v: %d entries, want %d", levels, global, k, c.isTop, len(c.got.Entries), len(want))
					}
					for i := range want {
						if c.got.Entries[i] != want[i] {
							t.Fatalf("levels %d global %v k %d top %v workers %d block %d: entry %d = %+v, want %+v",
								levels, global, k, c.isTop, opt.Workers, opt.BlockSize, i, c.got.Entries[i], want[i])
						}
					}
					if err := c.got.Validate(m.info); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

func TestSelectNaNIsAnError(t *testing.T) {
	m := &memSource{info: []TensorInfo{{"w", []int{2, 3}}}, scores: [][]float32{{1, 2, float32(math.NaN()), 4, 5, 6}}}
	if _, _, err := Select(context.Background(), m, Options{K: 2, Top: true}); err == nil {
		t.Fatal("NaN score accepted")
	}
}

type failingSource struct{ memSource }

func (f *failingSource) ScoreRange(i int, start int64, dst []float32) error {
	if i == 1 {
		return errors.New("disk on fire")
	}
	return f.memSource.ScoreRange(i, start, dst)
}

func TestSelectPropagatesErrorsAndCancel(t *testing.T) {
	m := randomSource(rand.New(rand.NewPCG(3, 4)), 5)
	if _, _, err := Select(context.Background(), &failingSource{*m}, Options{K: 2, Top: true, BlockSize: 2}); err == nil {
		t.Fatal("source error swallowed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Select(ctx, m, Options{K: 2, Top: true, BlockSize: 2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled select returned %v", err)
	}
	if _, _, err := Select(context.Background(), m, Options{K: 0, Top: true}); err == nil {
		t.Fatal("k = 0 accepted")
	}
}

func TestRandomCountsAndUniformity(t *testing.T) {
	info := []TensorInfo{{"a", []int{10, 10}}, {"b", []int{3}}, {"c", []int{50, 2}}}
	// per_layer: min(k, n_i) per tensor, distinct, inside the tensor.
	s := Random(info, 5, false, 42)
	if got := s.Counts(3); got[0] != 5 || got[1] != 3 || got[2] != 5 {
		t.Fatalf("per_layer counts %v", got)
	}
	if err := s.Validate(info); err != nil {
		t.Fatal(err)
	}
	if len(s.Keys()) != 13 || Overlap(s, s) != 13 {
		t.Fatal("duplicates in random set")
	}
	// Same seed, same set; another seed, another set.
	if Jaccard(s, Random(info, 5, false, 42)) != 1 {
		t.Fatal("random set not reproducible from its seed")
	}
	if Jaccard(s, Random(info, 5, false, 43)) == 1 {
		t.Fatal("seed does not change the random set")
	}
	// global: every one of the 203 weights is equally likely. Draw k=20 many
	// times; each weight's hit count is Binomial(trials, 20/203). Check the
	// per-tensor shares (expected 100/203, 3/203, 100/203) within 5 sigma.
	const trials, k = 4000, 20
	hits := make([]float64, 3)
	for seed := uint64(0); seed < trials; seed++ {
		g := Random(info, k, true, seed)
		if g.Len() != k {
			t.Fatalf("global count %d", g.Len())
		}
		for _, e := range g.Entries {
			hits[e.Tensor]++
		}
	}
	for i, n := range []float64{100, 3, 100} {
		p := n / 203
		mean := trials * k * p
		sd := math.Sqrt(trials * k * p * (1 - p))
		if math.Abs(hits[i]-mean) > 5*sd {
			t.Errorf("tensor %d hit %v times, expected %v ± %v", i, hits[i], mean, sd)
		}
	}
}

func TestOverlapJaccardIndex(t *testing.T) {
	a := &Set{Entries: []Entry{{0, 1, 0}, {0, 2, 0}, {1, 0, 0}}}
	b := &Set{Entries: []Entry{{1, 0, 0}, {0, 2, 0}, {2, 5, 0}, {2, 6, 0}}}
	// |a∩b| = 2 ({0,2},{1,0}); |a∪b| = 3+4-2 = 5.
	if Overlap(a, b) != 2 || Jaccard(a, b) != 0.4 {
		t.Fatalf("overlap %d jaccard %v", Overlap(a, b), Jaccard(a, b))
	}
	ti := TensorInfo{Shape: []int{4096, 11008}}
	// 3968*11008 + 7003 is the multi-index (3968, 7003).
	if idx := ti.Index(3968*11008 + 7003); idx[0] != 3968 || idx[1] != 7003 {
		t.Fatalf("Index = %v", idx)
	}
	if idx := (TensorInfo{Shape: []int{2, 3, 4}}).Index(23); idx[0] != 1 || idx[1] != 2 || idx[2] != 3 {
		t.Fatalf("Index 3-d = %v", idx)
	}
}

// hashSource scores 10⁸ weights from a hash of the position: nothing is
// stored, so every byte Select allocates is its own.
type hashSource struct{ info []TensorInfo }

func (h hashSource) Tensors() []TensorInfo { return h.info }
func (h hashSource) ScoreRange(i int, start int64, dst []float32) error {
	for j := range dst {
		x := uint64(i)<<40 + uint64(start) + uint64(j)
		x += 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		x ^= x >> 31
		dst[j] = float32(x>>40) / (1 << 24) // 2²⁴ levels: ties occur
	}
	return nil
}

// TestSelectMemoryIsOK: select top and bottom k over a synthetic 10⁸-weight
// model and check the bytes allocated stay O(k + workers·block), far below
// the 400 MB one float32 copy of the scores would take. (Allocation is
// measured, not time.)
func TestSelectMemoryIsOK(t *testing.T) {
	n := int64(100_000_000)
	if testing.Short() {
		n = 10_000_000
	}
	// Twelve tensors like a small model, one of them large (an embedding).
	var info []TensorInfo
	rest := n
	for i := 0; i < 11; i++ {
		rows := int(n / 20 / 1000)
		info = append(info, TensorInfo{Name: "layer", Shape: []int{rows, 1000}})
		rest -= int64(rows) * 1000
	}
	info = append(info, TensorInfo{Name: "embed", Shape: []int{int(rest / 1000), 1000}})
	const k, block = 1000, 1 << 16
	for _, global := range []bool{true, false} {
		workers := runtime.GOMAXPROCS(0)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		top, bot, err := Select(context.Background(), hashSource{info}, Options{K: k, Global: global, Top: true, Bottom: true, BlockSize: block})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		// Budget: block buffers, 2 heaps per worker and (per_layer) per
		// tensor, the sorted results, goroutine stacks, 1 MB slack.
		heaps := uint64(2 * (workers + len(info) + 2) * k * 24)
		budget := uint64(workers*block*4) + 2*heaps + 1<<20
		t.Logf("global=%v n=%d k=%d workers=%d: allocated %d bytes (budget %d; scores alone would be %d)",
			global, n, k, workers, alloc, budget, n*4)
		if alloc > budget {
			t.Errorf("allocated %d bytes, more than the O(k) budget %d", alloc, budget)
		}
		want := k
		if !global {
			want = k * len(info)
		}
		if top.Len() != want || bot.Len() != want {
			t.Fatalf("sizes %d %d, want %d", top.Len(), bot.Len(), want)
		}
		// Spot-check order: top descending, bottom ascending.
		for i := 1; i < top.Len() && global; i++ {
			if top.Entries[i].Score > top.Entries[i-1].Score || bot.Entries[i].Score < bot.Entries[i-1].Score {
				t.Fatal("result not in rank order")
			}
		}
	}
}
