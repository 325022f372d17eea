package tokenizer

// queue is a binary min-heap under less; both BPE encoders pop their next
// merge from one (ordered by rank for tokenizer.json, by score for
// tokenizer.bin), skipping entries that went stale since they were pushed.
type queue[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (q *queue[T]) len() int { return len(q.items) }

func (q *queue[T]) push(x T) {
	h := append(q.items, x)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	q.items = h
}

func (q *queue[T]) pop() T {
	h := q.items
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, s := 2*i+1, 2*i+2, i
		if l < n && q.less(h[l], h[s]) {
			s = l
		}
		if r < n && q.less(h[r], h[s]) {
			s = r
		}
		if s == i {
			break
		}
		h[i], h[s] = h[s], h[i]
		i = s
	}
	q.items = h
	return top
}
