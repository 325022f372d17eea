package rank

import (
	"math"
	"math/rand/v2"
	"sort"

	"esa/stdlib/esa/rng"
)

// Random draws the random_k control: in per_layer mode min(k, n_i) distinct
// weights uniformly from each tensor i; in global mode min(k, N) distinct
// weights uniformly from all N scored weights. So its count equals the top
// set's count in either mode. Memory is O(k) (Floyd's sampling algorithm);
// scores are NaN until FillScores.
func Random(tensors []TensorInfo, k int, global bool, seed uint64) *Set {
	set := &Set{Kind: "random_k", Global: global, K: k}
	r := rng.New(seed, "random_k")
	nan := float32(math.NaN())
	if !global {
		for i, t := range tensors {
			for _, f := range floyd(r, t.Len(), int64(min(int64(k), t.Len()))) {
				set.Entries = append(set.Entries, Entry{i, f, nan})
			}
		}
		return set
	}
	// Prefix sums turn a position among all N weights into (tensor, flat).
	ends := make([]int64, len(tensors))
	var total int64
	for i, t := range tensors {
		total += t.Len()
		ends[i] = total
	}
	for _, g := range floyd(r, total, min(int64(k), total)) {
		i := sort.Search(len(ends), func(i int) bool { return ends[i] > g })
		set.Entries = append(set.Entries, Entry{i, g - (ends[i] - tensors[i].Len()), nan})
	}
	return set
}

// floyd samples m distinct integers uniformly from [0, n), sorted.
func floyd(r *rand.Rand, n, m int64) []int64 {
	chosen := make(map[int64]struct{}, m)
	out := make([]int64, 0, m)
	for j := n - m; j < n; j++ {
		t := r.Int64N(j + 1)
		if _, dup := chosen[t]; dup {
			t = j
		}
		chosen[t] = struct{}{}
		out = append(out, t)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}
