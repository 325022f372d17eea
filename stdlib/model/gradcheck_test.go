package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"testing"

	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

var (
	layerPrefix = regexp.MustCompile(`^.*\blayers\.\d+\.`)
	expertIndex = regexp.MustCompile(`\bexperts\.\d+\.`)
)

// paramKind strips the layer and expert numbers:
// "model.layers.3.mlp.up_proj.weight" → "mlp.up_proj.weight",
// "model.layers.1.block_sparse_moe.experts.2.w1.weight" →
// "block_sparse_moe.experts.*.w1.weight", so coordinates can be spread over
// every kind.
func paramKind(name string) string {
	return expertIndex.ReplaceAllString(layerPrefix.ReplaceAllString(name, ""), "experts.*.")
}

// gradCheck compares the float64 analytic gradient with finite differences
// at perKind random coordinates of every parameter kind of m (which must
// store F64, so that a step of h is represented exactly); at least minTotal
// coordinates must be checked.
//
// Two objectives are checked, alternating by coordinate: the summed
// next-token NLL (LossAndGrad64) and Σ r⊙logits for a fixed random r
// (Pass64.Backward with dlogits = r), the arbitrary-gradient case ESA uses.
//
// The derivative is the fourth-order central difference
// (8(f(h)−f(−h)) − (f(2h)−f(−2h)))/12h with h = 1e-3: truncation error
// O(h⁴) ≈ 1e-12 and rounding ≈ 1e-16·|f|/h ≈ 1e-11, both far below the
// tolerance. Criterion: |fd − an| ≤ 1e-6·max(|an|, floor), i.e. relative
// error 1e-6, with an absolute floor of 1e-6·floor for coordinates whose
// gradient is (nearly) zero; floor = 1e-3 × the largest gradient magnitude
// of the objective (relative error is meaningless for a gradient of 1e-12
// that is zero up to rounding).
func gradCheck(t *testing.T, m *model.Model, ids []int, perKind, minTotal int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	V := m.Config.Vocab

	gNLL := m.NewGrads64()
	if _, _, err := m.LossAndGrad64(ids, gNLL); err != nil {
		t.Fatal(err)
	}
	r := make([]float64, len(ids)*V)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	gProj := m.NewGrads64()
	p, err := m.Forward64(ids, &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Backward(r, gProj); err != nil {
		t.Fatal(err)
	}
	p.Release()

	targets := nextTokenTargets(ids)
	objectives := []struct {
		name string
		g    *model.Grads64
		f    func() float64
	}{
		{"nll", gNLL, func() float64 {
			p, err := m.Forward64(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			return crossEntropy64(p.Logits, V, targets)
		}},
		{"r·logits", gProj, func() float64 {
			p, err := m.Forward64(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			var s float64
			for i, v := range p.Logits {
				s += r[i] * v
			}
			return s
		}},
	}
	floors := make([]float64, len(objectives))
	for i, o := range objectives {
		for _, g := range o.g.G {
			for _, v := range g {
				floors[i] = math.Max(floors[i], math.Abs(v))
			}
		}
		floors[i] *= 1e-3
	}

	kinds := map[string][]int{}
	for i, p := range m.Params {
		kinds[paramKind(p.Name)] = append(kinds[paramKind(p.Name)], i)
	}
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	embed := m.ParamIndex("model.embed_tokens.weight")
	if embed < 0 {
		embed = m.ParamIndex("gpt_neox.embed_in.weight")
	}

	const h = 1e-3
	checked, worst := 0, 0.0
	for _, kind := range names {
		for c := 0; c < perKind; c++ {
			pi := kinds[kind][rng.IntN(len(kinds[kind]))]
			w := m.Params[pi]
			if w.DType != tensor.F64 {
				t.Fatalf("gradCheck needs F64 storage, %s is %s", w.Name, w.DType)
			}
			j := rng.IntN(w.Len())
			if pi == embed && c%2 == 0 { // half the embedding rows from tokens in the sequence
				j = ids[rng.IntN(len(ids))]*w.Cols() + rng.IntN(w.Cols())
			}
			o := objectives[checked%2]
			f := func(d float64) float64 {
				w0 := w.At(j)
				w.Set(j, w0+d)
				v := o.f()
				w.Set(j, w0)
				return v
			}
			fd := (8*(f(h)-f(-h)) - (f(2*h) - f(-2*h))) / (12 * h)
			an := o.g.G[pi][j]
			den := math.Max(math.Abs(an), floors[checked%2])
			rel := math.Abs(fd-an) / den
			worst = math.Max(worst, rel)
			if rel > 1e-6 {
				t.Errorf("%s [%d] (%s): analytic %.12g, finite difference %.12g, relative error %.3g",
					w.Name, j, o.name, an, fd, rel)
			}
			checked++
		}
	}
	t.Logf("%d coordinates over %d parameter kinds, worst relative error %.3g", checked, len(names), worst)
	if checked < minTotal {
		t.Fatal(fmt.Sprintf("only %d coordinates checked, want %d", checked, minTotal))
	}
}

// TestGradCheckRandom covers what the real llama2.c checkpoint (tied,
// interleaved RoPE; TestGradCheckStories260K) does not: an untied
// lm_head.weight and Hugging Face's half-split RoPE, with GQA.
func TestGradCheckRandom(t *testing.T) {
	cfg := storiesConfig()
	cfg.Layers = 2
	cfg.TiedEmbeds = false
	m := randomModel(t, cfg, tensor.F64, 1)
	gradCheck(t, m, randomIDs(12, cfg.Vocab, 3), 17, 200, 5)
}

// TestGradCheckBiases: attention_bias and mlp_bias give every Llama
// projection a bias (as some Llama-architecture checkpoints have).
func TestGradCheckBiases(t *testing.T) {
	cfg := storiesConfig()
	cfg.Layers = 1
	cfg.AttentionBias, cfg.MLPBias = true, true
	m := randomModel(t, cfg, tensor.F64, 2)
	if m.Param("model.layers.0.self_attn.o_proj.bias") == nil || m.Param("model.layers.0.mlp.down_proj.bias") == nil {
		t.Fatal("biases were not bound")
	}
	gradCheck(t, m, randomIDs(10, cfg.Vocab, 4), 3, 50, 6)
}
