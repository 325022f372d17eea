package model_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/checkpoint"
	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// Tests on the real trained weights of the shared stories260K checkpoints.

const knownGreedy = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
	"One day, she saw a big, red ball. She wanted to play with it, but it was too high"

// openShared loads a shared checkpoint (rel under the shared models folder)
// and builds the model with its tokenizer.
func openShared(t testing.TB, rel string) *model.Model {
	t.Helper()
	c, err := checkpoint.Open(testmodels.Path(t, rel), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m, err := model.New(c.Config, c.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	m.Tokenizer = c.Tokenizer
	return m
}

func TestGreedyDecodeKnownText(t *testing.T) {
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		t.Run(rel, func(t *testing.T) {
			m := openShared(t, rel)
			if m.Tokenizer == nil {
				t.Fatal("checkpoint came without a tokenizer")
			}
			out, err := m.Generate(context.Background(), []int{m.Config.BOS}, 60, m.Config.EOS)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSpace(m.Tokenizer.Decode(out, true))
			if got != knownGreedy {
				t.Fatalf("greedy decode from BOS:\n got  %q\n want %q", got, knownGreedy)
			}
		})
	}
}

// TestGenerateMatchesForward: the KV-cache path picks, at every step, the
// argmax of a full forward over the same prefix.
func TestGenerateMatchesForward(t *testing.T) {
	m := openShared(t, "stories260K-hf")
	generateMatchesForward(t, m, append([]int{m.Config.BOS}, m.Tokenizer.Encode("The cat sat")...), 20)
}

// sequence256 is BOS plus 255 tokens the model wrote itself: real text
// without needing a corpus.
func sequence256(t *testing.T, m *model.Model) []int {
	t.Helper()
	out, err := m.Generate(context.Background(), []int{m.Config.BOS}, 255, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 255 {
		t.Fatalf("generated %d tokens, want 255", len(out))
	}
	return append([]int{m.Config.BOS}, out...)
}

// TestLlama2cAndHFLogitsAgree: the same weights in llama2.c layout
// (interleaved RoPE) and HF layout (half-split RoPE, permuted q/k rows) give
// the same logits at every position of a 256-token sequence.
func TestLlama2cAndHFLogitsAgree(t *testing.T) {
	bin := openShared(t, "stories260K/stories260K.bin")
	hf := openShared(t, "stories260K-hf")
	if !bin.Config.RopeInterleaved || hf.Config.RopeInterleaved {
		t.Fatalf("RopeInterleaved: bin %v, hf %v", bin.Config.RopeInterleaved, hf.Config.RopeInterleaved)
	}
	ids := sequence256(t, hf)
	a, err := bin.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := hf.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	worst, big := 0.0, 0.0
	for i := range a.Logits {
		worst = math.Max(worst, math.Abs(float64(a.Logits[i]-b.Logits[i])))
		big = math.Max(big, math.Abs(float64(b.Logits[i])))
	}
	t.Logf("max |logit difference| over 256 positions: %.3g (max |logit| %.3g)", worst, big)
	if worst > 1e-5 {
		t.Fatalf("llama2.c and HF logits differ by %.3g > 1e-5", worst)
	}
}

// TestGradCheckStories260K: finite differences in float64 on the real
// weights of the llama2.c checkpoint (converted to F64 storage so steps are
// exact), ≥ 200 coordinates spread over all 11 parameter kinds.
func TestGradCheckStories260K(t *testing.T) {
	m := convertModel(t, openShared(t, "stories260K/stories260K.bin"), tensor.F64)
	ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode("Once upon a time, a little bird sang.")...)
	if len(ids) > 16 {
		ids = ids[:16]
	}
	gradCheck(t, m, ids, 19, 200, 11)
}

// TestFloat32GradientsMatchFloat64: the fast path's gradients agree with the
// reference path's on the real model (per tensor max|a−b|/max|b|).
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	m := openShared(t, "stories260K-hf")
	ids := sequence256(t, m)[:100]
	g32 := m.NewGrads()
	s32, n, err := m.LossAndGrad(ids, g32)
	if err != nil {
		t.Fatal(err)
	}
	g64 := m.NewGrads64()
	s64, _, err := m.LossAndGrad64(ids, g64)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(s32-s64) > 1e-5*math.Abs(s64) {
		t.Errorf("loss float32 %.9g, float64 %.9g", s32, s64)
	}
	for i, p := range m.Params {
		want := make([]float32, len(g64.G[i]))
		for j, v := range g64.G[i] {
			want[j] = float32(v)
		}
		if e := relErr(g32.G[i], want); e > 1e-4 {
			t.Errorf("%s: float32 vs float64 gradient rel err %.3g", p.Name, e)
		}
	}
	t.Logf("%d tokens, mean NLL %.5f", n, s32/float64(n))
}

// relErr is max|got−want| / max|want| over a tensor.
func relErr(got, want []float32) float64 {
	var d, w float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		w = math.Max(w, math.Abs(float64(want[i])))
	}
	if w == 0 {
		return d
	}
	return d / w
}

// TestGoldenStories260K compares logits, loss and every parameter gradient
// with the PyTorch golden of testdata/gen_golden_llama.py (float64 reference
// rounded to float32; per-tensor max|a−b|/max|b| ≤ 1e-4, see
// testdata/README.md).
func TestGoldenStories260K(t *testing.T) {
	m := openShared(t, "stories260K-hf")
	f, err := safetensors.Open(filepath.Join("testdata", "llama_stories260K_golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gold := map[string][]float32{}
	for _, ts := range f.Tensors {
		gold[ts.Name] = append([]float32(nil), ts.Float32()...)
	}
	var ids []int
	for _, v := range gold["ids"] {
		ids = append(ids, int(v))
	}
	if len(ids) < 2 {
		t.Fatal("golden has no ids")
	}
	g := m.NewGrads()
	sum, n, err := m.LossAndGrad(ids, g)
	if err != nil {
		t.Fatal(err)
	}
	if loss, want := sum/float64(n), float64(gold["loss"][0]); math.Abs(loss-want) > 1e-4*math.Abs(want) {
		t.Errorf("mean loss %.7f, golden %.7f", loss, want)
	}
	p, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	worst, worstName := relErr(p.Logits, gold["logits"]), "logits"
	if worst > 1e-4 {
		t.Errorf("logits: rel err %.3g", worst)
	}
	seen := 0
	for i, par := range m.Params {
		want, ok := gold["grad."+par.Name]
		if !ok {
			t.Errorf("golden has no gradient for %s", par.Name)
			continue
		}
		seen++
		e := relErr(g.G[i], want)
		if e > 1e-4 {
			t.Errorf("grad %s: rel err %.3g", par.Name, e)
		}
		if e > worst {
			worst, worstName = e, par.Name
		}
	}
	for name := range gold {
		if strings.HasPrefix(name, "grad.") && m.ParamIndex(strings.TrimPrefix(name, "grad.")) < 0 {
			t.Errorf("golden gradient %s has no parameter", name)
		}
	}
	t.Logf("%d gradients compared; worst rel err %.3g (%s)", seen, worst, worstName)
}

// TestReducedPrecisionStorage: a model stored in BF16 or F16 computes exactly
// what the F32 model computes after rounding its weights to that dtype
// (weights are widened exactly, the rest is the same float32 code), and
// stays within the dtype's rounding of the F32 logits.
func TestReducedPrecisionStorage(t *testing.T) {
	m := openShared(t, "stories260K-hf")
	ids := sequence256(t, m)[:128]
	ref, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Release()
	for _, tc := range []struct {
		dt  tensor.DType
		tol float64 // max |Δlogit| / max |logit|
	}{{tensor.BF16, 3e-2}, {tensor.F16, 4e-3}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			low := convertModel(t, m, tc.dt)
			rounded := convertModel(t, low, tensor.F32)
			a, err := low.Forward(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			b, err := rounded.Forward(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			for i := range a.Logits {
				if a.Logits[i] != b.Logits[i] {
					t.Fatalf("%s storage logit %d = %g, F32 with %s-rounded weights %g", tc.dt, i, a.Logits[i], tc.dt, b.Logits[i])
				}
			}
			e := relErr(a.Logits, ref.Logits)
			t.Logf("%s vs F32 logits: max|Δ|/max|logit| = %.3g", tc.dt, e)
			if e > tc.tol {
				t.Fatalf("%s logits differ from F32 by %.3g > %g", tc.dt, e, tc.tol)
			}
			g := low.NewGrads()
			if _, _, err := low.LossAndGrad(ids, g); err != nil {
				t.Fatal(err)
			}
		})
	}
}
