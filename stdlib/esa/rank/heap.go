package rank

// bheap is a bounded heap keeping the cap best entries seen. Its root is the
// worst entry kept, so a new entry only needs one comparison against the
// root to be rejected, which is what makes a pass over 10⁹ scores cheap.
//
// "Best" for top sets: higher score, then earlier tensor, then lower flat
// index. For bottom sets: lower score, then earlier tensor, lower flat index.
type bheap struct {
	top bool
	cap int
	e   []Entry
}

func newHeap(top bool, k int) *bheap {
	return &bheap{top: top, cap: k, e: make([]Entry, 0, min(k, 1<<16))}
}

// worse reports whether a ranks below b.
func (h *bheap) worse(a, b Entry) bool {
	if a.Score != b.Score {
		if h.top {
			return a.Score < b.Score
		}
		return a.Score > b.Score
	}
	if a.Tensor != b.Tensor {
		return a.Tensor > b.Tensor
	}
	return a.Flat > b.Flat
}

// push offers e; it is kept if the heap is not full or e beats the root.
func (h *bheap) push(e Entry) {
	if len(h.e) < h.cap {
		h.e = append(h.e, e)
		h.up(len(h.e) - 1)
		return
	}
	if !h.worse(h.e[0], e) {
		return
	}
	h.e[0] = e
	h.down(0)
}

// offerTop and offerBottom are the hot loops: one float comparison rejects
// almost every score once the heap is full.
func (h *bheap) offerTop(tensor int, start int64, s []float32) {
	for i, v := range s {
		if len(h.e) == h.cap && v < h.e[0].Score {
			continue
		}
		h.push(Entry{tensor, start + int64(i), v})
	}
}

func (h *bheap) offerBottom(tensor int, start int64, s []float32) {
	for i, v := range s {
		if len(h.e) == h.cap && v > h.e[0].Score {
			continue
		}
		h.push(Entry{tensor, start + int64(i), v})
	}
}

func (h *bheap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(h.e[i], h.e[p]) {
			return
		}
		h.e[i], h.e[p] = h.e[p], h.e[i]
		i = p
	}
}

func (h *bheap) down(i int) {
	n := len(h.e)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.worse(h.e[r], h.e[l]) {
			m = r
		}
		if !h.worse(h.e[m], h.e[i]) {
			return
		}
		h.e[i], h.e[m] = h.e[m], h.e[i]
		i = m
	}
}

// sorted empties the heap into best-first order.
func (h *bheap) sorted() []Entry {
	out := make([]Entry, len(h.e))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = h.e[0]
		last := len(h.e) - 1
		h.e[0] = h.e[last]
		h.e = h.e[:last]
		h.down(0)
	}
	return out
}
