// Package rank selects the top-k, bottom-k and random-k weights of a model's
// scored tensors by streaming selection: scores are read block by block into
// bounded heaps, never materialised or sorted as a whole, so extra memory is
// O(k) per worker whatever the number of weights (esa-spec.md, "Ranking").
package rank

import (
	"fmt"
	"sort"
)

// TensorInfo names one scored tensor and its shape (row-major).
type TensorInfo struct {
	Name  string
	Shape []int
}

// Len is the number of elements.
func (t TensorInfo) Len() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Index turns a flat row-major offset into the multi-index of the tensor's
// own shape, e.g. flat 7 in shape [2,4] is (1,3).
func (t TensorInfo) Index(flat int64) []int {
	idx := make([]int, len(t.Shape))
	for d := len(t.Shape) - 1; d >= 0; d-- {
		idx[d] = int(flat % int64(t.Shape[d]))
		flat /= int64(t.Shape[d])
	}
	return idx
}

// Entry is one selected weight.
type Entry struct {
	Tensor int     // index into the tensor list the set was selected from
	Flat   int64   // row-major offset inside the tensor
	Score  float32 // its score (NaN in a random set until FillScores)
}

// Set is a selected set of weights.
//
// Order: in global mode entries are in rank order (best first by the set's
// own order; ties to the earlier tensor, then the lower flat index). In
// per_layer mode they are grouped by tensor in model order and in rank order
// within each tensor. Random sets are ordered by tensor, then flat index.
type Set struct {
	Kind    string // "top_k", "bottom_k" or "random_k"
	Global  bool
	K       int // the requested k (per tensor in per_layer mode)
	Entries []Entry
}

// Len is the number of selected weights.
func (s *Set) Len() int { return len(s.Entries) }

// Counts is the number of selected weights in each of n tensors.
func (s *Set) Counts(n int) []int {
	c := make([]int, n)
	for _, e := range s.Entries {
		c[e.Tensor]++
	}
	return c
}

// Key packs (tensor, flat) into one comparable int64: tensors up to 2²³,
// flat offsets up to 2⁴⁰ (10¹²).
func Key(tensor int, flat int64) int64 { return int64(tensor)<<40 | flat }

// Keys lists the set's keys (see Key), sorted ascending.
func (s *Set) Keys() []int64 {
	k := make([]int64, len(s.Entries))
	for i, e := range s.Entries {
		k[i] = Key(e.Tensor, e.Flat)
	}
	sort.Slice(k, func(i, j int) bool { return k[i] < k[j] })
	return k
}

// Overlap counts the weights in both a and b.
func Overlap(a, b *Set) int {
	ka, kb := a.Keys(), b.Keys()
	n, i, j := 0, 0, 0
	for i < len(ka) && j < len(kb) {
		switch {
		case ka[i] < kb[j]:
			i++
		case ka[i] > kb[j]:
			j++
		default:
			n++
			i++
			j++
		}
	}
	return n
}

// Jaccard is |a∩b| / |a∪b| (1 for two empty sets).
func Jaccard(a, b *Set) float64 {
	inter := Overlap(a, b)
	union := a.Len() + b.Len() - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// Validate checks that every entry lies inside its tensor.
func (s *Set) Validate(tensors []TensorInfo) error {
	for _, e := range s.Entries {
		if e.Tensor < 0 || e.Tensor >= len(tensors) {
			return fmt.Errorf("rank: %s entry names tensor %d of %d", s.Kind, e.Tensor, len(tensors))
		}
		if e.Flat < 0 || e.Flat >= tensors[e.Tensor].Len() {
			return fmt.Errorf("rank: %s entry %d outside %s (%d elements)", s.Kind, e.Flat, tensors[e.Tensor].Name, tensors[e.Tensor].Len())
		}
	}
	return nil
}
