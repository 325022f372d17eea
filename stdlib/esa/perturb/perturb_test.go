package perturb

import (
	"context"
	"errors"
	"math"
	"testing"

	"esa/stdlib/esa/choice"
	"esa/stdlib/tensor"
)

// TestBitFlipExactPatterns flips the top exponent bit of 0.01 in each dtype.
// Hand computation (cross-checked with numpy/torch):
//
//	fp32: 0.01 = 0x3C23D70A; bit 30 set → 0x7C23D70A = 0.01·2¹²⁸ ≈ 3.4028236e36
//	bf16: 0.01 rounds to 0x3C24 (0.010009765625); bit 14 → 0x7C24 = 0.010009765625·2¹²⁸ ≈ 3.4061467e36
//	fp16: 0.01 rounds to 0x211F (0.01000213623046875); bit 14 → 0x611F = 0.01000213623046875·2¹⁶ = 655.5
func TestBitFlipExactPatterns(t *testing.T) {
	cases := []struct {
		dt         tensor.DType
		before     uint64
		after      uint64
		afterValue float64
	}{
		{tensor.F32, 0x3C23D70A, 0x7C23D70A, 0.009999999776482582 * math.Pow(2, 128)},
		{tensor.BF16, 0x3C24, 0x7C24, 0.010009765625 * math.Pow(2, 128)},
		{tensor.F16, 0x211F, 0x611F, 655.5},
	}
	for _, c := range cases {
		w := tensor.New("w", c.dt, 2, 3)
		for i := 0; i < 6; i++ {
			w.Set(i, 0.01)
		}
		if got := w.Bits(4); got != c.before {
			t.Fatalf("%s: 0.01 stored as %#x, want %#x", c.dt, got, c.before)
		}
		u, err := Apply([]Target{{w, []int64{4}}}, Spec{Kind: choice.BitFlip, Prob: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Bits(4); got != c.after {
			t.Errorf("%s: flipped bits %#x, want %#x", c.dt, got, c.after)
		}
		if got := w.At(4); got != c.afterValue {
			t.Errorf("%s: flipped value %v, want %v", c.dt, got, c.afterValue)
		}
		for _, i := range []int{0, 1, 2, 3, 5} {
			if w.Bits(i) != c.before {
				t.Errorf("%s: unselected weight %d changed", c.dt, i)
			}
		}
		if u.Flipped != 1 || u.Changed != 1 {
			t.Errorf("%s: flipped %d changed %d", c.dt, u.Flipped, u.Changed)
		}
		u.Restore()
		if w.Bits(4) != c.before {
			t.Errorf("%s: restore gave %#x", c.dt, w.Bits(4))
		}
	}
	// Given bit: bf16 −1.5 = 0xBFC0; bit 0 → 0xBFC1; bit 15 (sign) → 0x3FC0.
	w := tensor.New("w", tensor.BF16, 2)
	w.Set(0, -1.5)
	w.Set(1, -1.5)
	if _, err := Apply([]Target{{w, []int64{0}}}, Spec{Kind: choice.BitFlip, Prob: 1, Bit: GivenBit, BitIndex: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply([]Target{{w, []int64{1}}}, Spec{Kind: choice.BitFlip, Prob: 1, Bit: GivenBit, BitIndex: 15}); err != nil {
		t.Fatal(err)
	}
	if w.Bits(0) != 0xBFC1 || w.Bits(1) != 0x3FC0 {
		t.Errorf("given bits: %#x %#x", w.Bits(0), w.Bits(1))
	}
	if _, err := Apply([]Target{{w, []int64{0}}}, Spec{Kind: choice.BitFlip, Prob: 1, Bit: GivenBit, BitIndex: 16}); err == nil {
		t.Error("bit 16 of a bf16 accepted")
	}
}

func TestBitFlipProbabilityAndRandomBit(t *testing.T) {
	const n = 20000
	w := tensor.New("w", tensor.F16, n)
	for i := 0; i < n; i++ {
		w.Set(i, 0.5)
	}
	all := make([]int64, n)
	for i := range all {
		all[i] = int64(i)
	}
	u, err := Apply([]Target{{w, all}}, Spec{Kind: choice.BitFlip, Prob: 0.05, Bit: RandomBit, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// Binomial(20000, 0.05): mean 1000, sd ≈ 30.8; allow 5 sd.
	if math.Abs(float64(u.Flipped)-1000) > 5*30.8 {
		t.Errorf("%d flips, expected about 1000", u.Flipped)
	}
	// Every changed weight differs from 0.5 (0x3800) in exactly one bit, and
	// all 16 bit positions occur.
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		d := w.Bits(i) ^ 0x3800
		if d == 0 {
			continue
		}
		if d&(d-1) != 0 {
			t.Fatalf("weight %d differs in more than one bit: %#x", i, d)
		}
		seen[int(math.Log2(float64(d)))] = true
	}
	if len(seen) != 16 {
		t.Errorf("random bits cover %d of 16 positions", len(seen))
	}
	if u.Changed != u.Flipped {
		t.Errorf("changed %d != flipped %d", u.Changed, u.Flipped)
	}
	// The same seed reproduces the same flips.
	before := Checksum([]Target{{w, all}})
	u.Restore()
	u2, _ := Apply([]Target{{w, all}}, Spec{Kind: choice.BitFlip, Prob: 0.05, Bit: RandomBit, Seed: 7})
	if Checksum([]Target{{w, all}}) != before {
		t.Error("bit flips not reproducible from the seed")
	}
	u2.Restore()
}

func TestValueKinds(t *testing.T) {
	w := tensor.FromF32("w", []float32{1, -2, 3, 0.5}, 4)
	u, err := Apply([]Target{{w, []int64{1, 3}}}, Spec{Kind: choice.SignFlip, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.F32(); got[0] != 1 || got[1] != 4 || got[2] != 3 || got[3] != -1 {
		t.Errorf("sign_flip s=2: %v", got)
	}
	u.Restore()
	u, _ = Apply([]Target{{w, []int64{0, 1}}}, Spec{Kind: choice.Zero})
	if got := w.F32(); got[0] != 0 || got[1] != 0 || math.Signbit(float64(got[1])) {
		t.Errorf("zero: %v", got)
	}
	u.Restore()
	// gauss_noise: relative noise; with 10⁴ weights w=1 and s=0.1 the
	// changes (w'−w)/(s|w|) are N(0,1): mean ≈ 0, sd ≈ 1.
	const n = 10000
	v := tensor.New("v", tensor.F32, n)
	idx := make([]int64, n)
	for i := range idx {
		v.Set(i, 1)
		idx[i] = int64(i)
	}
	if _, err := Apply([]Target{{v, idx}}, Spec{Kind: choice.GaussNoise, Scale: 0.1, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for i := 0; i < n; i++ {
		z := (v.At(i) - 1) / 0.1
		sum += z
		sq += z * z
	}
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	if math.Abs(mean) > 0.05 || math.Abs(sd-1) > 0.05 {
		t.Errorf("gauss_noise z mean %v sd %v", mean, sd)
	}
	if _, err := Apply([]Target{{w, []int64{1, 1}}}, Spec{Kind: choice.Zero}); err == nil {
		t.Error("duplicate index accepted")
	}
	if _, err := Apply([]Target{{w, []int64{4}}}, Spec{Kind: choice.Zero}); err == nil {
		t.Error("out-of-range index accepted")
	}
	if _, err := Apply(nil, Spec{Kind: "gaussian"}); err == nil {
		t.Error("unknown kind accepted")
	}
}

// model makes three tensors in three dtypes with varied values.
func testModel() []*tensor.Tensor {
	var ts []*tensor.Tensor
	for i, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		w := tensor.New("w"+dt.String(), dt, 16, 8)
		for j := 0; j < w.Len(); j++ {
			w.Set(j, math.Sin(float64(j*(i+3)))*float64(j%5))
		}
		ts = append(ts, w)
	}
	return ts
}

func targets(ts []*tensor.Tensor) []Target {
	return []Target{{ts[0], []int64{0, 5, 127}}, {ts[1], []int64{3, 4, 99}}, {ts[2], []int64{1, 64, 100}}}
}

func snapshot(ts []*tensor.Tensor) [][]byte {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = append([]byte(nil), t.Data...)
	}
	return out
}

func sameBytes(t *testing.T, what string, ts []*tensor.Tensor, snap [][]byte) {
	t.Helper()
	for i, w := range ts {
		if string(w.Data) != string(snap[i]) {
			t.Errorf("%s: %s not restored bit for bit", what, w.Name)
		}
	}
}

func TestWithRestoresOnEveryExit(t *testing.T) {
	ts := testModel()
	snap := snapshot(ts)
	specs := []Spec{
		{Kind: choice.Zero}, {Kind: choice.SignFlip, Scale: 1}, {Kind: choice.SignFlip, Scale: 0.3},
		{Kind: choice.GaussNoise, Scale: 0.5, Seed: 1}, {Kind: choice.BitFlip, Prob: 1},
		{Kind: choice.BitFlip, Prob: 0.5, Bit: RandomBit, Seed: 9},
	}
	for _, spec := range specs {
		// Success: the callback sees the perturbed model.
		res, err := With(context.Background(), targets(ts), spec, func(context.Context) error {
			changed := false
			for i, w := range ts {
				changed = changed || string(w.Data) != string(snap[i])
			}
			if !changed {
				return errors.New("callback saw an unperturbed model")
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", spec.Kind, err)
		}
		if res.Selected != 9 || res.Changed == 0 {
			t.Errorf("%s: result %+v", spec.Kind, res)
		}
		sameBytes(t, string(spec.Kind)+" success", ts, snap)

		// Error from the callback.
		boom := errors.New("boom")
		if _, err := With(context.Background(), targets(ts), spec, func(context.Context) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("%s: error not returned: %v", spec.Kind, err)
		}
		sameBytes(t, string(spec.Kind)+" error", ts, snap)

		// Panic in the callback: restored, then re-raised.
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: panic swallowed", spec.Kind)
				}
			}()
			With(context.Background(), targets(ts), spec, func(context.Context) error { panic("injected") })
		}()
		sameBytes(t, string(spec.Kind)+" panic", ts, snap)

		// Cancel while the callback runs (it returns as soon as it notices).
		ctx, cancel := context.WithCancel(context.Background())
		_, err = With(ctx, targets(ts), spec, func(ctx context.Context) error {
			cancel()
			<-ctx.Done()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancel gave %v", spec.Kind, err)
		}
		sameBytes(t, string(spec.Kind)+" cancel", ts, snap)
	}
}

// TestWithDetectsStrayWrites: a callback that changes a weight outside the
// selected set leaves the model different from before, and the checksum
// must say so rather than report a clean restore.
func TestWithDetectsStrayWrites(t *testing.T) {
	ts := testModel()
	_, err := With(context.Background(), targets(ts), Spec{Kind: choice.Zero}, func(context.Context) error {
		ts[1].SetBits(50, ts[1].Bits(50)^1)
		return nil
	})
	if err == nil {
		t.Fatal("stray write not detected by the checksum")
	}
}
