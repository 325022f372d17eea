package eval

import (
	"context"
	"math"
	"runtime"
	"sync"
	"testing"

	"esa/stdlib/checkpoint"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/model"
)

func loadBuiltin(t *testing.T) *model.Model {
	t.Helper()
	m, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWorkersBitIdentical: any number of workers, under any GOMAXPROCS,
// gives the one-worker result bit for bit, in truncation and sliding-window
// mode (per-text sums are added in text order).
func TestWorkersBitIdentical(t *testing.T) {
	m := loadBuiltin(t)
	texts := append([]string{""}, smoke.Smoke()[:12]...) // one text too short to score
	for _, base := range []Options{{MaxLength: 24}, {MaxLength: 16, Stride: 5}} {
		want, err := Evaluate(context.Background(), m, texts, base, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want.NSkipped != 1 || want.NTexts != len(texts)-1 || want.NWindows < want.NTexts {
			t.Fatalf("%+v: counts %+v", base, want)
		}
		for _, procs := range []int{1, 3} {
			for _, w := range []int{2, 4, 7, 40} {
				opts := base
				opts.Workers = w
				var got Result
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					got, err = Evaluate(context.Background(), m, texts, opts, nil)
				}()
				if err != nil {
					t.Fatal(err)
				}
				if got != want || math.Float64bits(got.MeanNLL) != math.Float64bits(want.MeanNLL) {
					t.Errorf("%+v GOMAXPROCS %d: %+v, one worker %+v", opts, procs, got, want)
				}
			}
		}
	}
}

// lockedRecorder records progress from several workers; it cancels at
// the given count when cancel is set.
type lockedRecorder struct {
	mu     sync.Mutex
	calls  [][2]int
	at     int
	cancel func()
}

func (r *lockedRecorder) Progress(_ string, done, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, [2]int{done, total})
	if r.cancel != nil && done == r.at {
		r.cancel()
	}
}

// TestWorkersProgressAndCancel: a parallel evaluation reports each text
// once, in increasing counts up to the total, and stops with the caller's
// error when cancelled midway.
func TestWorkersProgressAndCancel(t *testing.T) {
	m := loadBuiltin(t)
	texts := smoke.Smoke()[:9]
	if _, err := Evaluate(context.Background(), m, texts, Options{Workers: -1}, nil); err == nil {
		t.Error("negative workers accepted")
	}
	rec := &lockedRecorder{}
	if _, err := Evaluate(context.Background(), m, texts, Options{MaxLength: 24, Workers: 4}, rec); err != nil {
		t.Fatal(err)
	}
	for j, c := range rec.calls {
		if c != [2]int{j, len(texts)} {
			t.Fatalf("progress %v", rec.calls)
		}
	}
	if len(rec.calls) != len(texts)+1 {
		t.Errorf("progress %v", rec.calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &lockedRecorder{at: 3, cancel: cancel}
	if _, err := Evaluate(ctx, m, texts, Options{MaxLength: 24, Workers: 4}, stop); err != context.Canceled {
		t.Errorf("cancelled after 3 texts: %v", err)
	}
}
