package rank

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// Source gives the scores of a list of tensors by range, so a selection can
// read any block of any tensor without the source materialising every score.
type Source interface {
	// Tensors lists the scored tensors in model order.
	Tensors() []TensorInfo
	// ScoreRange fills dst with the scores of tensor i at flat offsets
	// [start, start+len(dst)). It is called from several goroutines at once.
	ScoreRange(i int, start int64, dst []float32) error
}

// Options chooses what Select computes.
type Options struct {
	K      int  // per tensor (per_layer) or in total (global)
	Global bool // false: per_layer
	Top    bool // select the k highest scores
	Bottom bool // select the k lowest scores
	// Workers reading blocks in parallel (0: GOMAXPROCS).
	Workers int
	// BlockSize is the number of scores read per call (0: 1<<16). Each worker
	// holds one block buffer.
	BlockSize int
}

// Select streams every score of src once and returns the top and bottom sets
// asked for (nil when not asked). Extra memory: per worker one block buffer
// and bounded heaps of k entries; in per_layer mode also the k entries kept
// per tensor, which is the size of the answer.
//
// A NaN score is an error: it means the metric broke (overflow, a bad
// gradient), and silently ranking it would hide that.
func Select(ctx context.Context, src Source, opt Options) (top, bottom *Set, err error) {
	if opt.K <= 0 {
		return nil, nil, fmt.Errorf("rank: k must be positive, got %d", opt.K)
	}
	if !opt.Top && !opt.Bottom {
		return nil, nil, fmt.Errorf("rank: nothing to select (neither top nor bottom)")
	}
	tensors := src.Tensors()
	for i, t := range tensors {
		if t.Len() >= 1<<40 || i >= 1<<23 {
			return nil, nil, fmt.Errorf("rank: tensor %s too large to index", t.Name)
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	block := opt.BlockSize
	if block <= 0 {
		block = 1 << 16
	}

	type job struct {
		tensor     int
		start, end int64
	}
	jobs := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Global mode: one heap pair per worker, merged at the end.
	// Per-layer mode: one heap pair per tensor, shared by the workers reading
	// its blocks; each block is first reduced in the worker's own heaps and
	// merged under the tensor's lock, so contention is per block, not per score.
	type pair struct {
		mu       sync.Mutex
		top, bot *bheap
	}
	newPair := func() *pair {
		p := &pair{}
		if opt.Top {
			p.top = newHeap(true, opt.K)
		}
		if opt.Bottom {
			p.bot = newHeap(false, opt.K)
		}
		return p
	}
	var perTensor []*pair
	if !opt.Global {
		perTensor = make([]*pair, len(tensors))
		for i := range perTensor {
			perTensor[i] = newPair()
		}
	}
	workerHeaps := make([]*pair, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		workerHeaps[w] = newPair()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]float32, block)
			mine := workerHeaps[w]
			for j := range jobs {
				if errs[w] != nil {
					continue // drain
				}
				s := buf[:j.end-j.start]
				if err := src.ScoreRange(j.tensor, j.start, s); err != nil {
					errs[w] = fmt.Errorf("rank: scores of %s: %w", tensors[j.tensor].Name, err)
					cancel()
					continue
				}
				if n := countNaN(s); n > 0 {
					errs[w] = fmt.Errorf("rank: %d NaN scores in %s (first block at offset %d): the metric overflowed or broke", n, tensors[j.tensor].Name, j.start)
					cancel()
					continue
				}
				if opt.Global {
					if mine.top != nil {
						mine.top.offerTop(j.tensor, j.start, s)
					}
					if mine.bot != nil {
						mine.bot.offerBottom(j.tensor, j.start, s)
					}
					continue
				}
				// per_layer: reduce the block locally, then merge.
				if mine.top != nil {
					mine.top.e = mine.top.e[:0]
					mine.top.offerTop(j.tensor, j.start, s)
				}
				if mine.bot != nil {
					mine.bot.e = mine.bot.e[:0]
					mine.bot.offerBottom(j.tensor, j.start, s)
				}
				p := perTensor[j.tensor]
				p.mu.Lock()
				if mine.top != nil {
					for _, e := range mine.top.e {
						p.top.push(e)
					}
				}
				if mine.bot != nil {
					for _, e := range mine.bot.e {
						p.bot.push(e)
					}
				}
				p.mu.Unlock()
			}
		}(w)
	}

feed:
	for i, t := range tensors {
		n := t.Len()
		for start := int64(0); start < n; start += int64(block) {
			select {
			case jobs <- job{i, start, min(n, start+int64(block))}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, nil, e
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	collect := func(isTop bool) *Set {
		kind := "bottom_k"
		if isTop {
			kind = "top_k"
		}
		set := &Set{Kind: kind, Global: opt.Global, K: opt.K}
		pick := func(p *pair) *bheap {
			if isTop {
				return p.top
			}
			return p.bot
		}
		if opt.Global {
			h := newHeap(isTop, opt.K)
			for _, p := range workerHeaps {
				for _, e := range pick(p).e {
					h.push(e)
				}
			}
			set.Entries = h.sorted()
			return set
		}
		total := 0
		for _, p := range perTensor {
			total += len(pick(p).e)
		}
		set.Entries = make([]Entry, 0, total)
		for _, p := range perTensor {
			set.Entries = append(set.Entries, pick(p).sorted()...)
		}
		return set
	}
	if opt.Top {
		top = collect(true)
	}
	if opt.Bottom {
		bottom = collect(false)
	}
	return top, bottom, nil
}

func countNaN(s []float32) int {
	n := 0
	for _, v := range s {
		if v != v {
			n++
		}
	}
	return n
}

// FillScores sets the Score of every entry of s from src (used for random
// sets, whose members are chosen without looking at scores).
func FillScores(s *Set, src Source) error {
	var one [1]float32
	for i := range s.Entries {
		e := &s.Entries[i]
		if err := src.ScoreRange(e.Tensor, e.Flat, one[:]); err != nil {
			return err
		}
		e.Score = one[0]
	}
	return nil
}

// SortByPosition orders entries by tensor, then flat index (the order in
// which perturbations touch memory).
func SortByPosition(e []Entry) {
	sort.Slice(e, func(i, j int) bool {
		if e[i].Tensor != e[j].Tensor {
			return e[i].Tensor < e[j].Tensor
		}
		return e[i].Flat < e[j].Flat
	})
}
