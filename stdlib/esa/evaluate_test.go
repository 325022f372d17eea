package esa

import (
	"context"
	"math"
	"testing"

	"esa/stdlib/checkpoint"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/eval"
)

// TestEvaluateParallelBitIdentical: the run's parallel evaluation gives
// the sequential eval.Evaluate result bit for bit for every batch size, so
// identical runs report identical perplexities whatever --batch-size.
func TestEvaluateParallelBitIdentical(t *testing.T) {
	m, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	texts := smoke.Smoke()[:11]
	want, err := eval.Evaluate(context.Background(), m, texts, eval.Options{MaxLength: 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 2, 3, 4, 11, 20} {
		got, err := evaluateParallel(context.Background(), m, texts, 40, w, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if got != want || math.Float64bits(got.MeanNLL) != math.Float64bits(want.MeanNLL) {
			t.Errorf("workers %d: %+v, sequential %+v", w, got, want)
		}
	}
}
