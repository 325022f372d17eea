package sensitivity

import (
	"context"
	"fmt"
	"sync"

	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
	"esa/stdlib/tokenizer"
)

// Encode turns calibration texts into token sequences the way evaluation
// does (BOS per the tokenizer's config), truncated to maxLength tokens (and
// to the model's positions). Texts with fewer than two tokens predict
// nothing and are dropped; skipped counts them.
func Encode(tok tokenizer.Tokenizer, texts []string, maxLength, maxPositions int) (seqs [][]int, skipped int) {
	L := maxLength
	if maxPositions > 0 && (L <= 0 || L > maxPositions) {
		L = maxPositions
	}
	for _, t := range texts {
		ids := eval.Encode(tok, t)
		if L > 0 && len(ids) > L {
			ids = ids[:L]
		}
		if len(ids) < 2 {
			skipped++
			continue
		}
		seqs = append(seqs, ids)
	}
	return seqs, skipped
}

// Tokens is the number of predicted tokens of seqs (each sequence predicts
// all but its first token).
func Tokens(seqs [][]int) int {
	n := 0
	for _, s := range seqs {
		n += len(s) - 1
	}
	return n
}

// Float addition is not associative, so the order in which the
// per-sequence contributions of a metric are added decides its last bits.
// Two schemes fix that order regardless of goroutine scheduling:
//
//   - forSequences assigns sequences to workers statically; each worker
//     sums its own sequences into its own buffer, and the buffers are added
//     in worker order. Same bits on every run with the same worker count;
//     another count groups the sums differently. Memory: one buffer per
//     worker, which may be the very buffer the model's backward pass
//     accumulates into (meanGradient).
//   - forSequencesOrdered has each worker compute one contribution into its
//     own scratch and adds the contributions into a single total strictly
//     in index order. Same bits for every worker count too. Memory: one
//     scratch per worker plus the total.

// testStart, when non-nil (tests only), is called by a worker before it
// starts on item i, so tests can perturb the schedule.
var testStart func(w, i int)

// seqRun is the bookkeeping shared by the schemes: progress, the first
// error, and cancellation of the other workers once one fails.
type seqRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	rep    progress.Reporter
	phase  string
	n      int
	// name labels item i in an error ("sequence 3").
	name func(i int) string

	mu    sync.Mutex
	first error
	done  int
}

func newSeqRun(ctx context.Context, n int, rep progress.Reporter, phase string, name func(int) string) *seqRun {
	r := &seqRun{rep: progress.Or(rep), phase: phase, n: n, name: name}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.rep.Progress(phase, 0, n)
	return r
}

// finish records that item i ended with err and reports progress.
func (r *seqRun) finish(i int, err error) {
	r.mu.Lock()
	if err != nil && r.first == nil {
		r.first = fmt.Errorf("%s: %w", r.name(i), err)
		r.cancel()
	}
	r.done++
	d := r.done
	r.mu.Unlock()
	r.rep.Progress(r.phase, d, r.n)
}

// err is the first error, else the context's (nil when every item ran).
func (r *seqRun) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first != nil {
		return r.first
	}
	return r.ctx.Err()
}

func sequenceName(i int) string { return fmt.Sprintf("sequence %d", i+1) }

// forSequences runs fn(w, i) for every sequence index i in [0, n) on
// `workers` goroutines. The assignment is static and interleaved: worker w
// runs i = w, w+workers, w+2·workers, … in increasing order, so which
// sequences a worker sums, and in what order, depend only on n and
// workers, never on scheduling. Interleaving rather than contiguous blocks
// keeps the workers' loads even when the texts are sorted by length. The
// first error or ctx's cancellation stops it.
func forSequences(ctx context.Context, n, workers int, rep progress.Reporter, phase string, fn func(w, i int) error) error {
	workers = max(1, min(workers, n))
	r := newSeqRun(ctx, n, rep, phase, sequenceName)
	defer r.cancel()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n && r.ctx.Err() == nil; i += workers {
				if testStart != nil {
					testStart(w, i)
				}
				r.finish(i, fn(w, i))
			}
		}(w)
	}
	wg.Wait()
	return r.err()
}

// forSequencesOrdered runs compute(w, i, k) for every sequence i in [0, n)
// and every k in [0, per) (per > 1: several independent passes over one
// sequence, such as Monte-Carlo label draws) on `workers` goroutines, which
// take the items (i, k) in increasing order as they free up. After
// compute, which must leave the item's contribution in worker w's own
// scratch, reduce(w, i, k) adds it into the shared total: reduces run one
// at a time, strictly in item order, so the worker that computed an item
// waits until every earlier item has been reduced. The total's bits thus
// depend neither on scheduling nor on the worker count. A worker may idle
// behind an earlier, longer item; at most workers−1 finished items wait at
// once. The first error or ctx's cancellation stops it.
func forSequencesOrdered(ctx context.Context, n, per, workers int, rep progress.Reporter, phase string, compute func(w, i, k int) error, reduce func(w, i, k int)) error {
	per = max(1, per)
	items := n * per
	workers = max(1, min(workers, items))
	name := sequenceName
	if per > 1 {
		name = func(it int) string { return fmt.Sprintf("sequence %d pass %d", it/per+1, it%per+1) }
	}
	r := newSeqRun(ctx, items, rep, phase, name)
	defer r.cancel()
	var (
		mu   sync.Mutex
		turn int // the next item to reduce
	)
	cond := sync.NewCond(&mu)
	// Waiters must also wake when the run stops (an error elsewhere or the
	// caller's cancellation), since the turn they wait for may never come.
	stop := context.AfterFunc(r.ctx, func() {
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	})
	defer stop()
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for it := range next {
				if r.ctx.Err() != nil {
					continue // drain
				}
				if testStart != nil {
					testStart(w, it)
				}
				i, k := it/per, it%per
				err := compute(w, i, k)
				if err == nil {
					mu.Lock()
					for turn != it && r.ctx.Err() == nil {
						cond.Wait()
					}
					if turn == it {
						reduce(w, i, k)
						turn++
						cond.Broadcast()
					}
					mu.Unlock()
				}
				r.finish(it, err)
			}
		}(w)
	}
	// Items are handed out in increasing order, so every item below one
	// being waited on is held by a running worker: the turn always comes.
feed:
	for it := 0; it < items; it++ {
		select {
		case next <- it:
		case <-r.ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return r.err()
}

// meanGradient is g = ∇ of the mean token loss over seqs: each worker's
// backward passes accumulate the gradients of its sequences' summed NLL
// straight into its own buffer (forSequences' static assignment), and the
// buffers are added in worker order and divided by the number of predicted
// tokens. It returns g aligned with m.Params and the mean loss.
//
// The workers' buffers are resident (model.Grads.Resident): on a device
// backend each stays on the device across its worker's sequences, uploaded
// once and downloaded once, instead of both per sequence. The additions are
// the same float32 additions in the same order, so the bits are too.
//
// The bits of g are the same on every run with the same worker count, but
// not across counts: an order independent of the count as well
// (forSequencesOrdered) needs every sequence's gradient computed into a
// zeroed scratch and then added into a separate total, one more float32
// copy of every parameter than the `workers` held here (twice the memory
// at --batch-size 1, the setting 8B models need). The mean loss does not
// depend on the count: per-sequence losses are added in sequence order.
func meanGradient(ctx context.Context, m *model.Model, seqs [][]int, workers int, rep progress.Reporter, phase string) ([][]float32, float64, error) {
	workers = max(1, min(workers, len(seqs)))
	grads := make([]*model.Grads, workers)
	nll := make([]float64, len(seqs))
	err := forSequences(ctx, len(seqs), workers, rep, phase, func(w, i int) error {
		if grads[w] == nil {
			grads[w] = m.NewGrads()
			grads[w].Resident(true)
		}
		var err error
		nll[i], _, err = m.LossAndGrad(seqs[i], grads[w])
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	var g [][]float32
	for _, gw := range grads {
		if gw == nil {
			continue
		}
		// Read on the host from here on; off also lets the device copies go.
		gw.Resident(false)
		if g == nil {
			g = gw.G
			continue
		}
		for p := range g {
			for j, v := range gw.G[p] {
				g[p][j] += v
			}
		}
	}
	var sum float64
	for _, v := range nll {
		sum += v
	}
	n := Tokens(seqs)
	for p := range g {
		for j := range g[p] {
			g[p][j] /= float32(n)
		}
	}
	return g, sum / float64(n), nil
}
