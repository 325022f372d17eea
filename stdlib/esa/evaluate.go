package esa

import (
	"context"
	"math"
	"sync"

	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// evaluateParallel is eval.Evaluate over texts split into `workers`
// contiguous chunks evaluated at once (the model allows concurrent passes),
// merged exactly: NLL sums and correct counts add. Every text must give at
// least two tokens (the caller filters), so no chunk is empty of
// predictions.
func evaluateParallel(ctx context.Context, m *model.Model, texts []string, maxLength, workers int, rep progress.Reporter, phase string) (eval.Result, error) {
	workers = max(1, min(workers, len(texts)))
	agg := &sumProgress{rep: progress.Or(rep), phase: phase, done: make([]int, workers), total: len(texts)}
	res := make([]eval.Result, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		lo, hi := w*len(texts)/workers, (w+1)*len(texts)/workers
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res[w], errs[w] = eval.Evaluate(ctx, m, texts[lo:hi], eval.Options{MaxLength: maxLength}, agg.worker(w))
			if errs[w] != nil {
				cancel()
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && err != context.Canceled {
			return eval.Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return eval.Result{}, err
	}
	out := res[0]
	var nll, correct float64
	out.NTexts, out.NTokens, out.NSkipped, out.NTruncated, out.NWindows = 0, 0, 0, 0, 0
	for _, r := range res {
		out.NTexts += r.NTexts
		out.NTokens += r.NTokens
		out.NSkipped += r.NSkipped
		out.NTruncated += r.NTruncated
		out.NWindows += r.NWindows
		nll += r.MeanNLL * float64(r.NTokens)
		correct += math.Round(r.TokenAccuracy * float64(r.NTokens))
	}
	out.MeanNLL = nll / float64(out.NTokens)
	out.Perplexity = math.Exp(out.MeanNLL)
	out.TokenAccuracy = correct / float64(out.NTokens)
	return out, nil
}

// sumProgress adds the progress of parallel workers into one bar.
type sumProgress struct {
	mu    sync.Mutex
	rep   progress.Reporter
	phase string
	done  []int
	total int
}

type workerProgress struct {
	s *sumProgress
	w int
}

func (s *sumProgress) worker(w int) progress.Reporter { return workerProgress{s, w} }

func (p workerProgress) Progress(_ string, done, _ int) {
	s := p.s
	s.mu.Lock()
	s.done[p.w] = done
	sum := 0
	for _, d := range s.done {
		sum += d
	}
	s.mu.Unlock()
	s.rep.Progress(s.phase, sum, s.total)
}
