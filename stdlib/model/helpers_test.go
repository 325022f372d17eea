package model_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// storiesConfig is the shape of stories260K.
func storiesConfig() model.Config {
	return model.Config{
		Architecture: "llama", Dim: 64, Hidden: 172, Layers: 5, Heads: 8, KVHeads: 4,
		Vocab: 512, MaxSeqLen: 512, NormEps: 1e-5, RopeTheta: 10000, TiedEmbeds: true,
		BOS: 1, EOS: 2,
	}
}

// randomTensors builds every parameter of cfg with seeded random values:
// matrices ~ N(0, 0.5/sqrt(in)) so activations stay O(1) and softmaxes are
// not saturated, norm gains 1 ± 0.2 so their gradients matter.
func randomTensors(t testing.TB, cfg model.Config, dt tensor.DType, seed uint64) []*tensor.Tensor {
	t.Helper()
	sp, err := model.Specs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	var out []*tensor.Tensor
	for _, s := range sp {
		mean, std := 1.0, 0.2
		if len(s.Shape) == 2 {
			mean, std = 0, 0.5/math.Sqrt(float64(s.Shape[1]))
			if strings.Contains(s.Name, "embed") || strings.Contains(s.Name, "lm_head") {
				std = 1
			}
		}
		// Filled through a typed view (Set per element is slow at 70M);
		// F32 directly, so benchmarks' peak memory holds no extra copy.
		var x *tensor.Tensor
		if dt == tensor.F64 {
			x = tensor.New(s.Name, tensor.F64, s.Shape...)
			v := unsafe.Slice((*float64)(unsafe.Pointer(&x.Data[0])), x.Len())
			for i := range v {
				v[i] = mean + std*rng.NormFloat64()
			}
		} else {
			x = tensor.New(s.Name, tensor.F32, s.Shape...)
			v := x.F32()
			for i := range v {
				v[i] = float32(mean + std*rng.NormFloat64())
			}
			if dt != tensor.F32 {
				x = x.Convert(dt)
			}
		}
		out = append(out, x)
	}
	return out
}

func randomModel(t testing.TB, cfg model.Config, dt tensor.DType, seed uint64) *model.Model {
	t.Helper()
	m, err := model.New(cfg, randomTensors(t, cfg, dt, seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomIDs(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(vocab)
	}
	return ids
}

// convertModel returns a model with every tensor converted to dt.
func convertModel(t testing.TB, m *model.Model, dt tensor.DType) *model.Model {
	t.Helper()
	var ts []*tensor.Tensor
	for _, p := range m.Params {
		ts = append(ts, p.Convert(dt))
	}
	out, err := model.New(m.Config, ts)
	if err != nil {
		t.Fatal(err)
	}
	out.Tokenizer = m.Tokenizer
	return out
}

// nextTokenTargets returns ids shifted left by one, the last target -1.
func nextTokenTargets(ids []int) []int {
	t := make([]int, len(ids))
	copy(t, ids[1:])
	t[len(t)-1] = -1
	return t
}

// crossEntropy64 is the summed next-token NLL over float64 logits.
func crossEntropy64(logits []float64, V int, targets []int) float64 {
	var s float64
	for r, tgt := range targets {
		if tgt < 0 {
			continue
		}
		z := logits[r*V : (r+1)*V]
		mx := math.Inf(-1)
		for _, v := range z {
			mx = math.Max(mx, v)
		}
		var se float64
		for _, v := range z {
			se += math.Exp(v - mx)
		}
		s += mx + math.Log(se) - z[tgt]
	}
	return s
}

// matmul is x [rows, in] · wᵀ (+ b), in float64.
func matmul(x []float32, rows int, w, b *tensor.Tensor) []float32 {
	out, in := w.Shape[0], w.Shape[1]
	y := make([]float32, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			var s float64
			for i := 0; i < in; i++ {
				s += float64(x[r*in+i]) * w.At(o*in+i)
			}
			if b != nil {
				s += b.At(o)
			}
			y[r*out+o] = float32(s)
		}
	}
	return y
}

// generateMatchesForward generates n tokens after prompt and checks that
// the KV-cache path picked, at every step, the argmax of a full forward over
// the same prefix.
func generateMatchesForward(t *testing.T, m *model.Model, prompt []int, n int) {
	t.Helper()
	out, err := m.Generate(context.Background(), prompt, n, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("generated %d tokens, want %d", len(out), n)
	}
	p, err := m.Forward(append(slices.Clone(prompt), out...), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	V := m.Config.Vocab
	for i, tok := range out {
		row := p.Logits[(len(prompt)-1+i)*V : (len(prompt)+i)*V]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best != tok {
			t.Fatalf("step %d: Generate chose %d, full forward's argmax is %d", i, tok, best)
		}
	}
}
