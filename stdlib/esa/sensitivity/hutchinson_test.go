package sensitivity

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/checkpoint"
	"esa/stdlib/esa/choice"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// meanGrad64 is the float64 gradient of the mean token loss over seqs.
func meanGrad64(t testing.TB, m *model.Model, seqs [][]int) [][]float64 {
	t.Helper()
	g := m.NewGrads64()
	for _, ids := range seqs {
		if _, _, err := m.LossAndGrad64(ids, g); err != nil {
			t.Fatal(err)
		}
	}
	n := float64(Tokens(seqs))
	for _, v := range g.G {
		for j := range v {
			v[j] /= n
		}
	}
	return g.G
}

// TestHutchinsonKnownHessian: on a tiny model, the full Hessian of the mean
// loss over the scored weights is computed column by column (float64
// central differences of float64 gradients, exact steps). Hutchinson's
// estimate z⊙Hz with Rademacher z has E = diag(H) and, per coordinate,
// variance Σ_{j≠i} H_ij² / P; so the mean squared error over coordinates
// must follow (1/n)·Σ_i Σ_{j≠i} H_ij² / P — shrinking like 1/P (RMS like
// 1/√P) towards the exact diagonal.
func TestHutchinsonKnownHessian(t *testing.T) {
	m32, m64 := tinyPair(t, tinyConfig(false), 21)
	seqs := randomSeqs(3, 7, 11, 22)
	s := newScores(m32, choice.HutchinsonDiag, false)
	s.Sequences, s.Tokens = len(seqs), Tokens(seqs)
	type coord struct{ k, p, j int }
	var cs []coord
	for k, p := range s.Params {
		for j := 0; j < m64.Params[p].Len(); j++ {
			cs = append(cs, coord{k, p, j})
		}
	}
	n := len(cs)
	// H column c by central differences; H[i][c] for every scored i.
	H := make([][]float64, n)
	const h = 1e-4
	for c, cc := range cs {
		w := m64.Params[cc.p]
		x := w.At(cc.j)
		w.Set(cc.j, x+h)
		gp := meanGrad64(t, m64, seqs)
		w.Set(cc.j, x-h)
		gm := meanGrad64(t, m64, seqs)
		w.Set(cc.j, x)
		H[c] = make([]float64, n)
		for i, ci := range cs {
			H[c][i] = (gp[ci.p][ci.j] - gm[ci.p][ci.j]) / (2 * h)
		}
	}
	var offSq float64 // Σ_i Σ_{j≠i} H_ij²
	var asym float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				offSq += H[i][j] * H[i][j]
			}
			asym = math.Max(asym, math.Abs(H[i][j]-H[j][i]))
		}
	}
	if asym > 1e-5 {
		t.Fatalf("reference Hessian not symmetric (max |H−Hᵀ| = %g): finite differences too coarse", asym)
	}
	var prev float64
	for _, P := range []int{4, 16, 64} {
		est, _, err := s.hutchinsonEstimate(context.Background(), seqs, 2, Options{Probes: P, Seed: 5}, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		var mse float64
		for i, ci := range cs {
			d := float64(est[ci.k][ci.j]) - H[i][i]
			mse += d * d
		}
		mse /= float64(n)
		pred := offSq / float64(n) / float64(P)
		t.Logf("P=%d probes: RMS error %.4g, predicted √(Σ_{j≠i}H_ij²/(nP)) = %.4g (ratio %.2f)", P, math.Sqrt(mse), math.Sqrt(pred), math.Sqrt(mse/pred))
		if r := mse / pred; r < 0.5 || r > 1.6 {
			t.Errorf("P=%d: mean squared error %.4g is %.2f× the Rademacher variance %.4g", P, mse, r, pred)
		}
		if prev > 0 && mse > prev/2 {
			t.Errorf("P=%d: error did not shrink (%.4g after %.4g)", P, mse, prev)
		}
		prev = mse
	}
}

// TestHutchinsonRestoresBF16: a bf16 model is widened while probing and
// comes back bit for bit (compute checks the whole-model checksum).
func TestHutchinsonRestoresBF16(t *testing.T) {
	m32, _ := tinyPair(t, tinyConfig(true), 23)
	var bf []*tensor.Tensor
	for _, p := range m32.Params {
		bf = append(bf, p.Convert(tensor.BF16))
	}
	m, err := model.New(m32.Config, bf)
	if err != nil {
		t.Fatal(err)
	}
	s := compute(t, m, randomSeqs(2, 6, 11, 24), Options{Metric: choice.HutchinsonDiag, Probes: 2})
	for k, p := range s.Params {
		if m.Params[p] != bf[p] || m.Params[p].DType != tensor.BF16 {
			t.Fatalf("tensor %s not put back", s.Tensors[k].Name)
		}
	}
	if !strings.Contains(strings.Join(s.Notes, " "), "widened to fp32") {
		t.Errorf("notes do not say the bf16 tensors were widened: %v", s.Notes)
	}
}

// TestHutchinsonNonF32MatchesF32: on a bf16 or f16 copy of the built-in
// model, hutchinson_diag probes float32 copies of the scored weights, so
// every pass — the embedding lookup, every layer's projections and the tied
// head — must compute with the displaced float32 values. The estimate then
// equals, bit for bit, that of an F32 model holding the same rounded
// weights: the CPU backend widens a bf16/f16 weight to float32 exactly
// before the same GEMMs, the unscored norm gains are read the same way in
// both, and one worker fixes the order gradients are summed in. The
// low-precision model's tensors must come back as they were (the same
// tensors, bit for bit).
func TestHutchinsonNonF32MatchesF32(t *testing.T) {
	base, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(3, 24, base.Config.Vocab, 31)
	opt := Options{Metric: choice.HutchinsonDiag, Probes: 2, Seed: 9, Workers: 1}
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		var low, wide []*tensor.Tensor
		for _, p := range base.Params {
			q := p.Convert(dt)
			low = append(low, q)
			wide = append(wide, q.Convert(tensor.F32))
		}
		ml, err := model.New(base.Config, low)
		if err != nil {
			t.Fatal(err)
		}
		mw, err := model.New(base.Config, wide)
		if err != nil {
			t.Fatal(err)
		}
		want := compute(t, mw, seqs, opt)
		got := compute(t, ml, seqs, opt) // compute checks the checksum of every tensor
		for i, p := range ml.Params {
			if p != low[i] || p.DType != dt {
				t.Fatalf("%s: tensor %s was not put back (now %s)", dt, low[i].Name, p.DType)
			}
		}
		for k := range want.vals {
			diff := 0
			var num, den float64
			for j, w := range want.vals[k] {
				g := got.vals[k][j]
				if math.Float32bits(g) != math.Float32bits(w) {
					diff++
				}
				num += float64(g-w) * float64(g-w)
				den += float64(w) * float64(w)
			}
			if diff > 0 {
				t.Errorf("%s %s: %d of %d estimates differ from the F32 model's (relative L2 difference %.3g)",
					dt, want.Tensors[k].Name, diff, len(want.vals[k]), math.Sqrt(num/den))
			}
		}
	}
}

// TestHVPAgainstFloat64 measures the central-difference HVP used by
// hutchinson_diag (float32 gradients, ε = DefaultStep) on stories260K
// against a float64 reference (float64 gradients of a float64 copy of the
// weights, ε = 10⁻⁴, truncation error ~10⁻⁸).
func TestHVPAgainstFloat64(t *testing.T) {
	m, err := checkpoint.Load(testmodels.Path(t, "stories260K-hf"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wide []*tensor.Tensor
	for _, p := range m.Params {
		wide = append(wide, p.Convert(tensor.F64))
	}
	m64, err := model.New(m.Config, wide)
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(3, 24, m.Config.Vocab, 25)
	s := newScores(m, choice.HutchinsonDiag, false)
	hz, err := s.hvp(context.Background(), seqs, 2, 3, 0, DefaultStep, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-4
	displace := func(sign float64) {
		for k, p := range s.Params {
			w := m64.Params[p]
			z := newRademacher(3, 0, k)
			for j := 0; j < w.Len(); j++ {
				w.Set(j, w.At(j)+sign*h*float64(z.next()))
			}
		}
	}
	displace(1)
	gp := meanGrad64(t, m64, seqs)
	displace(-2)
	gm := meanGrad64(t, m64, seqs)
	var num, den float64
	for k, p := range s.Params {
		for j, v := range hz[k] {
			ref := (gp[p][j] - gm[p][j]) / (2 * h)
			num += (float64(v) - ref) * (float64(v) - ref)
			den += ref * ref
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("stories260K HVP, ε=%g float32 vs float64 reference: relative L2 error %.3g", DefaultStep, rel)
	if rel > 1e-2 {
		t.Errorf("HVP relative error %.3g", rel)
	}
}

// cancelAfter cancels its context at the first progress report past zero.
type cancelAfter struct{ cancel context.CancelFunc }

func (c cancelAfter) Progress(_ string, done, _ int) {
	if done > 0 {
		c.cancel()
	}
}

// TestHutchinsonCancelRestores: cancelling while the weights are displaced
// returns the context's error and leaves the model bit for bit as it was —
// for a bf16 model also with its own tensors back in every layer, so the
// logits are those from before.
func TestHutchinsonCancelRestores(t *testing.T) {
	m32, _ := tinyPair(t, tinyConfig(false), 26)
	var bf []*tensor.Tensor
	for _, p := range m32.Params {
		bf = append(bf, p.Convert(tensor.BF16))
	}
	m16, err := model.New(m32.Config, bf)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 5, 2, 9, 3}
	for _, m := range []*model.Model{m32, m16} {
		dt := m.Params[0].DType
		before := checksumAll(m)
		params := slices.Clone(m.Params)
		logits := func() []float32 {
			p, err := m.Forward(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			return slices.Clone(p.Logits)
		}
		want := logits()
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Compute(ctx, m, randomSeqs(6, 8, 11, 27), Options{Metric: choice.HutchinsonDiag, Probes: 3, Workers: 1}, cancelAfter{cancel})
		if err == nil || ctx.Err() == nil {
			t.Fatalf("cancelled Compute returned %v", err)
		}
		cancel()
		if checksumAll(m) != before || !slices.Equal(m.Params, params) {
			t.Fatalf("%s model changed after a cancelled hutchinson_diag", dt)
		}
		if !slices.Equal(logits(), want) {
			t.Fatalf("%s model computes differently after a cancelled hutchinson_diag", dt)
		}
	}
}
