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

// forSequences runs fn(worker, i) for every sequence index i on `workers`
// goroutines (worker in [0, workers)), reporting progress; the first error
// or ctx's cancellation stops it.
func forSequences(ctx context.Context, n, workers int, rep progress.Reporter, phase string, fn func(w, i int) error) error {
	rep = progress.Or(rep)
	workers = max(1, min(workers, n))
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		done  int
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range next {
				err := fn(w, i)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("sequence %d: %w", i+1, err)
					cancel()
				}
				done++
				d := done
				mu.Unlock()
				rep.Progress(phase, d, n)
			}
		}(w)
	}
	rep.Progress(phase, 0, n)
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// meanGradient is g = ∇ of the mean token loss over seqs: each worker sums
// the gradients of its sequences' summed NLL into its own buffer; the
// buffers are added and divided by the number of predicted tokens. It
// returns g aligned with m.Params and the mean loss.
func meanGradient(ctx context.Context, m *model.Model, seqs [][]int, workers int, rep progress.Reporter, phase string) ([][]float32, float64, error) {
	workers = max(1, min(workers, len(seqs)))
	grads := make([]*model.Grads, workers)
	nll := make([]float64, workers)
	err := forSequences(ctx, len(seqs), workers, rep, phase, func(w, i int) error {
		if grads[w] == nil {
			grads[w] = m.NewGrads()
		}
		s, _, err := m.LossAndGrad(seqs[i], grads[w])
		nll[w] += s
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	var g [][]float32
	var sum float64
	for w, gw := range grads {
		sum += nll[w]
		if gw == nil {
			continue
		}
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
	n := Tokens(seqs)
	for p := range g {
		for j := range g[p] {
			g[p][j] /= float32(n)
		}
	}
	return g, sum / float64(n), nil
}
