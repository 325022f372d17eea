package esa

import (
	"context"

	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// evaluateParallel is eval.Evaluate with `workers` texts in flight at once
// (the model allows concurrent passes). eval adds the per-text sums in
// text order, so the result is the same bits for every worker count and
// schedule, and equals the sequential evaluation's.
func evaluateParallel(ctx context.Context, m *model.Model, texts []string, maxLength, workers int, rep progress.Reporter, phase string) (eval.Result, error) {
	return eval.Evaluate(ctx, m, texts, eval.Options{MaxLength: maxLength, Workers: max(1, workers)}, phased{progress.Or(rep), phase})
}

// phased reports eval's progress under the caller's phase name.
type phased struct {
	rep   progress.Reporter
	phase string
}

func (p phased) Progress(_ string, done, total int) { p.rep.Progress(p.phase, done, total) }
