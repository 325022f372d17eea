package perturb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"esa/stdlib/esa/choice"
	"esa/stdlib/tensor"
)

// differing lists, per tensor, the elements whose stored bits differ from
// the snapshot.
func differing(ts []*tensor.Tensor, snap [][]byte) [][]int64 {
	out := make([][]int64, len(ts))
	for i, w := range ts {
		es := w.DType.Size()
		for j := 0; j < w.Len(); j++ {
			if string(w.Data[j*es:(j+1)*es]) != string(snap[i][j*es:(j+1)*es]) {
				out[i] = append(out[i], int64(j))
			}
		}
	}
	return out
}

// report is what one notify call was told, and what differed from the
// original bytes when it was.
type report struct {
	changed, differ [][]int64
}

// TestWithNotifyReportsExactlyTheChange: notify hears, after the change,
// exactly the elements whose bits differ (not the selected ones the
// perturbation left alone: zeroing a weight that is 0 already, a bit flip
// not drawn) and, after the restore, the same elements again with the
// bytes back — on success, error and panic of the callback alike.
func TestWithNotifyReportsExactlyTheChange(t *testing.T) {
	ts := testModel()
	snap := snapshot(ts)
	specs := []Spec{
		{Kind: choice.Zero}, {Kind: choice.SignFlip, Scale: 0.3}, {Kind: choice.GaussNoise, Scale: 0.5, Seed: 1},
		{Kind: choice.BitFlip, Prob: 0.5, Bit: RandomBit, Seed: 9},
	}
	fns := map[string]func(context.Context) error{
		"success": func(context.Context) error { return nil },
		"error":   func(context.Context) error { return errors.New("boom") },
		"panic":   func(context.Context) error { panic("injected") },
	}
	for _, spec := range specs {
		for how, fn := range fns {
			what := fmt.Sprintf("%s, %s", spec.Kind, how)
			var got []report
			notify := func(changed []Target) error {
				r := report{differ: differing(ts, snap)}
				for j, c := range changed {
					if c.T != ts[j] {
						return fmt.Errorf("report %d names %s, the target is %s", j, c.T.Name, ts[j].Name)
					}
					r.changed = append(r.changed, slices.Clone(c.Flat))
				}
				got = append(got, r)
				return nil
			}
			var res Result
			func() {
				defer func() { recover() }()
				res, _ = WithNotify(context.Background(), targets(ts), spec, notify, fn)
			}()
			sameBytes(t, what, ts, snap)
			if len(got) != 2 {
				t.Fatalf("%s: notify called %d times, want 2 (change and restore)", what, len(got))
			}
			n := 0
			for j := range ts {
				c, d := got[0].changed[j], got[0].differ[j]
				if !slices.Equal(c, d) {
					t.Errorf("%s: %s: reported %v, the elements that differ are %v", what, ts[j].Name, c, d)
				}
				if !slices.Equal(got[1].changed[j], c) || got[1].differ[j] != nil {
					t.Errorf("%s: %s: restore reported %v with %v still differing, change reported %v", what, ts[j].Name, got[1].changed[j], got[1].differ[j], c)
				}
				n += len(c)
			}
			if how == "success" && (n != res.Changed || n == 0) {
				t.Errorf("%s: %d elements reported, Changed %d", what, n, res.Changed)
			}
			if how == "success" && (spec.Kind == choice.Zero || spec.Kind == choice.BitFlip) && n == res.Selected {
				t.Errorf("%s: every selected weight changed: the unchanged ones are not exercised", what)
			}
		}
	}
}

// TestWithNotifyErrorAtChange: a notify that fails after the change skips
// the callback; the weights are restored, the restore reported, and the
// error returned.
func TestWithNotifyErrorAtChange(t *testing.T) {
	ts := testModel()
	snap := snapshot(ts)
	calls, ran := 0, false
	refuse := errors.New("refused")
	_, err := WithNotify(context.Background(), targets(ts), Spec{Kind: choice.SignFlip, Scale: 1}, func([]Target) error {
		calls++
		if calls == 1 {
			return refuse
		}
		return nil
	}, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, refuse) || ran || calls != 2 {
		t.Errorf("error %v, callback ran %v, notify calls %d", err, ran, calls)
	}
	sameBytes(t, "refused notify", ts, snap)
}

// changer records what ReportTo tells it.
type changer struct {
	got  []string
	fail error
}

func (c *changer) Changed(i int, idx []int64) error {
	c.got = append(c.got, fmt.Sprint(i, idx))
	return c.fail
}

// TestReportTo: each target's changed elements go to its parameter index;
// targets with none are not reported; a mismatch of lengths and the
// model's refusal are errors.
func TestReportTo(t *testing.T) {
	ts := testModel()
	c := &changer{}
	n := ReportTo(c, []int{7, 3, 9})
	if err := n([]Target{{ts[0], []int64{1, 2}}, {ts[1], nil}, {ts[2], []int64{5}}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"7 [1 2]", "9 [5]"}; !slices.Equal(c.got, want) {
		t.Errorf("reported %q, want %q", c.got, want)
	}
	if err := n([]Target{{ts[0], []int64{1}}}); err == nil {
		t.Error("one change for three parameter indices accepted")
	}
	c.fail = errors.New("no")
	if err := n([]Target{{ts[0], []int64{1}}, {ts[1], nil}, {ts[2], nil}}); !errors.Is(err, c.fail) {
		t.Errorf("the model's refusal: %v", err)
	}
}
