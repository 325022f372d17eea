package sensitivity

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// tinyConfig is a one-layer Llama small enough for brute-force references
// (a few hundred weights, vocabulary 11).
func tinyConfig(tied bool) model.Config {
	return model.Config{Architecture: "llama", Dim: 8, Hidden: 12, Layers: 1, Heads: 2, KVHeads: 1,
		Vocab: 11, MaxSeqLen: 16, NormEps: 1e-5, RopeTheta: 10000, TiedEmbeds: tied, BOS: -1, EOS: -1}
}

// tinyPair builds the same random weights twice: F32 (what the metrics run
// on) and F64 (the reference, where a finite-difference step is exact).
// Matrices ~ N(0, 0.7/√in), embeddings N(0,1), norm gains 1 ± 0.2, so
// softmaxes are neither flat nor saturated.
func tinyPair(t testing.TB, cfg model.Config, seed uint64) (m32, m64 *model.Model) {
	t.Helper()
	sp, err := model.Specs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	var a, b []*tensor.Tensor
	for _, s := range sp {
		x := tensor.New(s.Name, tensor.F32, s.Shape...)
		for i := 0; i < x.Len(); i++ {
			switch {
			case len(s.Shape) == 1:
				x.Set(i, 1+0.2*r.NormFloat64())
			case strings.Contains(s.Name, "embed") || strings.Contains(s.Name, "lm_head"):
				x.Set(i, r.NormFloat64())
			default:
				x.Set(i, 0.7/math.Sqrt(float64(s.Shape[1]))*r.NormFloat64())
			}
		}
		a = append(a, x)
		b = append(b, x.Convert(tensor.F64))
	}
	if m32, err = model.New(cfg, a); err != nil {
		t.Fatal(err)
	}
	if m64, err = model.New(cfg, b); err != nil {
		t.Fatal(err)
	}
	return m32, m64
}

// randomSeqs draws n sequences of length 4…maxLen over the vocabulary.
func randomSeqs(n, maxLen, vocab int, seed uint64) [][]int {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([][]int, n)
	for i := range out {
		s := make([]int, 4+r.IntN(maxLen-3))
		for j := range s {
			s[j] = r.IntN(vocab)
		}
		out[i] = s
	}
	return out
}

// logProbs64 returns, per position t < T−1, log softmax of the float64
// logits (independent of the engine's loss code).
func logProbs64(t testing.TB, m *model.Model, ids []int) [][]float64 {
	t.Helper()
	p, err := m.Forward64(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	V := m.Config.Vocab
	out := make([][]float64, len(ids)-1)
	for r := range out {
		row := p.Logits[r*V : (r+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		lse := mx + math.Log(z)
		lp := make([]float64, V)
		for j, v := range row {
			lp[j] = v - lse
		}
		out[r] = lp
	}
	return out
}

// seqNLL64 is the summed next-token NLL of one sequence in float64.
func seqNLL64(t testing.TB, m *model.Model, ids []int) float64 {
	var s float64
	for r, lp := range logProbs64(t, m, ids) {
		s -= lp[ids[r+1]]
	}
	return s
}

// meanNLL64 is the mean token NLL over seqs in float64.
func meanNLL64(t testing.TB, m *model.Model, seqs [][]int) float64 {
	var s float64
	for _, ids := range seqs {
		s += seqNLL64(t, m, ids)
	}
	return s / float64(Tokens(seqs))
}

// fdGrad is ∂f/∂w at element j of param p of the F64 model by central
// differences with step h (exact steps in float64 storage).
func fdGrad(m *model.Model, p, j int, h float64, f func() float64) float64 {
	w := m.Params[p]
	x := w.At(j)
	w.Set(j, x+h)
	fp := f()
	w.Set(j, x-h)
	fm := f()
	w.Set(j, x)
	return (fp - fm) / (2 * h)
}
