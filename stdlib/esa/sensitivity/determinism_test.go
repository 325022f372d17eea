package sensitivity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"esa/stdlib/checkpoint"
	"esa/stdlib/esa/choice"
)

// schedule perturbs how the workers interleave: GOMAXPROCS for the run and
// a delay a worker takes before starting item i. The delays only reorder
// work; no result depends on how long anything took.
type schedule struct {
	name  string
	procs int
	delay func(w, i int) time.Duration
}

var schedules = []schedule{
	{"plain", 4, nil},
	// Worker 0 crawls: with sequences handed out as workers free up, the
	// others take almost all of them.
	{"slow worker 0", 2, func(w, _ int) time.Duration {
		if w == 0 {
			return 4 * time.Millisecond
		}
		return 0
	}},
	// Everyone but worker 0 crawls, and some items more than others.
	{"slow others", 1, func(w, i int) time.Duration {
		if w == 0 {
			return 0
		}
		return time.Duration(1+i%3) * 2 * time.Millisecond
	}},
}

// under runs f with s in force.
func under(s schedule, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(s.procs))
	if s.delay != nil {
		testStart = func(w, i int) { time.Sleep(s.delay(w, i)) }
		defer func() { testStart = nil }()
	}
	f()
}

// scoreBits reads every score of s as bits, with the mean loss's bits last.
func scoreBits(t *testing.T, s *Scores) []uint64 {
	t.Helper()
	var out []uint64
	for k, ti := range s.Tensors {
		v := make([]float32, ti.Len())
		if err := s.ScoreRange(k, 0, v); err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			out = append(out, uint64(math.Float32bits(x)))
		}
	}
	return append(out, math.Float64bits(s.MeanLoss))
}

// firstDiff describes where two score dumps differ ("" when identical).
func firstDiff(a, b []uint64) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d values", len(a), len(b))
	}
	n, first := 0, -1
	for j := range a {
		if a[j] != b[j] {
			if first < 0 {
				first = j
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d values differ, first at %d", n, len(a), first)
}

// TestScoresBitIdenticalAcrossSchedules: every data-driven metric, run with
// four workers under different schedules, gives the same scores (and mean
// loss) bit for bit — so the same top-k sets. The metrics summed in
// sequence order (grad_squared, hessian_diag, act_mag) also give the same
// bits with one or three workers; grad_x_weight and hutchinson_diag sum one
// gradient per worker and are fixed for a given worker count only.
func TestScoresBitIdenticalAcrossSchedules(t *testing.T) {
	m, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(11, 40, m.Config.Vocab, 5)
	for _, c := range []struct {
		opt        Options
		anyWorkers bool
	}{
		{Options{Metric: choice.GradXWeight}, false},
		{Options{Metric: choice.GradSquared}, true},
		{Options{Metric: choice.HessianDiag, FisherSamples: 2, Seed: 3}, true},
		{Options{Metric: choice.HutchinsonDiag, Probes: 1, Seed: 3}, false},
		{Options{Metric: choice.ActMag}, true},
	} {
		t.Run(string(c.opt.Metric), func(t *testing.T) {
			run := func(workers int, s schedule) []uint64 {
				opt := c.opt
				opt.Workers = workers
				var bits []uint64
				under(s, func() { bits = scoreBits(t, compute(t, m, seqs, opt)) })
				return bits
			}
			ref := run(4, schedules[0])
			for _, s := range schedules[1:] {
				if d := firstDiff(run(4, s), ref); d != "" {
					t.Errorf("4 workers, schedule %q vs %q: %s", s.name, schedules[0].name, d)
				}
			}
			if !c.anyWorkers {
				return
			}
			for _, w := range []int{1, 3} {
				if d := firstDiff(run(w, schedules[1]), ref); d != "" {
					t.Errorf("%d workers vs 4: %s", w, d)
				}
			}
		})
	}
}

// TestForSequencesStatic: worker w gets exactly the indices ≡ w mod
// workers, in increasing order, whatever the schedule.
func TestForSequencesStatic(t *testing.T) {
	const n, workers = 23, 4
	for _, s := range schedules {
		var mu sync.Mutex
		got := make([][]int, workers)
		under(s, func() {
			err := forSequences(context.Background(), n, workers, nil, "", func(w, i int) error {
				mu.Lock()
				got[w] = append(got[w], i)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		for w := range got {
			var want []int
			for i := w; i < n; i += workers {
				want = append(want, i)
			}
			if !slices.Equal(got[w], want) {
				t.Errorf("%s: worker %d ran %v, want %v", s.name, w, got[w], want)
			}
		}
	}
}

// TestForSequencesOrdered: reduces run in item order, each with the worker
// that computed the item; an error or a cancellation stops the run without
// leaving a worker waiting for a turn that never comes.
func TestForSequencesOrdered(t *testing.T) {
	const n, per, workers = 9, 3, 4
	for _, s := range schedules {
		var mu sync.Mutex
		by := map[[2]int]int{} // item → worker that computed it
		var order [][2]int
		reduceWorkerOK := true
		under(s, func() {
			err := forSequencesOrdered(context.Background(), n, per, workers, nil, "",
				func(w, i, k int) error {
					mu.Lock()
					by[[2]int{i, k}] = w
					mu.Unlock()
					return nil
				},
				func(w, i, k int) {
					mu.Lock()
					reduceWorkerOK = reduceWorkerOK && by[[2]int{i, k}] == w
					order = append(order, [2]int{i, k})
					mu.Unlock()
				})
			if err != nil {
				t.Fatal(err)
			}
		})
		var want [][2]int
		for i := 0; i < n; i++ {
			for k := 0; k < per; k++ {
				want = append(want, [2]int{i, k})
			}
		}
		if !slices.Equal(order, want) || !reduceWorkerOK {
			t.Errorf("%s: reduced %v (each by its computing worker: %v)", s.name, order, reduceWorkerOK)
		}
	}

	boom := errors.New("boom")
	var reduced []int
	err := forSequencesOrdered(context.Background(), 20, 1, workers, nil, "",
		func(w, i, _ int) error {
			if i == 6 {
				return boom
			}
			if i > 6 {
				time.Sleep(time.Millisecond) // let later items queue up behind the failure
			}
			return nil
		},
		func(_, i, _ int) { reduced = append(reduced, i) })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "sequence 7:") {
		t.Errorf("error: %v", err)
	}
	// The failure may stop earlier items before their turn, but nothing
	// is reduced out of order or past the failed item.
	if len(reduced) > 6 || !slices.Equal(reduced, []int{0, 1, 2, 3, 4, 5}[:len(reduced)]) {
		t.Errorf("reduced after a failure at 6: %v", reduced)
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = forSequencesOrdered(ctx, 20, 1, workers, nil, "",
		func(_, i, _ int) error {
			if i == 2 {
				cancel()
			}
			return nil
		},
		func(_, _, _ int) {})
	if err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

// TestMeanGradientLossIndependentOfWorkers: the mean loss that goes with
// grad_x_weight adds per-sequence losses in sequence order.
func TestMeanGradientLossIndependentOfWorkers(t *testing.T) {
	m, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(7, 30, m.Config.Vocab, 8)
	var want float64
	for _, ids := range seqs {
		s, _, err := m.LossAndGrad(ids, m.NewGrads())
		if err != nil {
			t.Fatal(err)
		}
		want += s
	}
	want /= float64(Tokens(seqs))
	for _, w := range []int{1, 2, 4} {
		_, got, err := meanGradient(context.Background(), m, seqs, w, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%d workers: mean loss %v, in sequence order %v", w, got, want)
		}
	}
}
