package superweight

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"esa/stdlib/checkpoint"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

func tinyModel(t *testing.T, layers int, seed uint64) *model.Model {
	t.Helper()
	cfg := model.Config{Architecture: "llama", Dim: 16, Hidden: 24, Layers: layers, Heads: 2, KVHeads: 2,
		Vocab: 20, MaxSeqLen: 32, NormEps: 1e-5, RopeTheta: 10000, BOS: -1, EOS: -1}
	sp, err := model.Specs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	var ts []*tensor.Tensor
	for _, s := range sp {
		x := tensor.New(s.Name, tensor.F32, s.Shape...)
		for i := 0; i < x.Len(); i++ {
			if len(s.Shape) == 1 {
				x.Set(i, 1)
			} else {
				x.Set(i, 0.3/math.Sqrt(float64(s.Shape[1]))*r.NormFloat64())
			}
		}
		ts = append(ts, x)
	}
	m, err := model.New(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// plant makes layer l's MLP produce a super activation: hidden unit col is
// driven hard by gate/up (a large input spike at down_proj column col), and
// down_proj[row, col] is large (the output spike at row).
func plant(m *model.Model, l, row, col int) {
	gate := m.Param("model.layers." + itoa(l) + ".mlp.gate_proj.weight")
	up := m.Param("model.layers." + itoa(l) + ".mlp.up_proj.weight")
	down := m.Param("model.layers." + itoa(l) + ".mlp.down_proj.weight")
	D := gate.Cols()
	for d := 0; d < D; d++ {
		gate.Set(col*D+d, 3)
		up.Set(col*D+d, 3)
	}
	down.Set(row*down.Cols()+col, 40)
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestDetectPlantedSuperWeight(t *testing.T) {
	m := tinyModel(t, 5, 1)
	plant(m, 1, 7, 13)
	ids := []int{1, 5, 9, 3, 3, 8, 2, 11, 4, 6}
	r, err := Detect(context.Background(), m, ids, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if len(r.Candidates) != 1 {
		t.Fatalf("candidates %+v", r.Candidates)
	}
	c := r.Candidates[0]
	if c.Layer != 1 || c.Row != 7 || c.Col != 13 || !c.Flagged || c.Weight != 40 || c.Flat != 7*24+13 {
		t.Fatalf("candidate %+v, want layer 1 [7, 13] = 40", c)
	}
	for _, L := range r.Layers {
		if L.Flagged != (L.Layer == 1) {
			t.Errorf("layer %d flagged=%v", L.Layer, L.Flagged)
		}
	}

	// Zeroing it must move perplexity more than zeroing any random single
	// weight (in a random model the planted weight is noise, so removing it
	// may help), and the model must come back bit for bit.
	var all []perturb.Target
	for _, p := range m.Params {
		all = append(all, perturb.Target{T: p})
	}
	before := perturb.Checksum(all)
	eval := func(context.Context) (float64, float64, error) {
		p, err := m.Forward(ids, nil)
		if err != nil {
			return 0, 0, err
		}
		defer p.Release()
		targets := append(append([]int(nil), ids[1:]...), -1)
		nll, n, _ := model.CrossEntropy(p.Logits, m.Config.Vocab, targets)
		return math.Exp(nll / float64(n)), 0, nil
	}
	base, _, _ := eval(context.Background())
	z, err := ZeroTest(context.Background(), m, c, base, 8, 3, eval)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("zeroing: PPL ×%.3f; random single weights ×%.4f mean, ×%.4f max", z.PPLRatio, z.ControlRatioMean, z.ControlRatioMax)
	if perturb.Checksum(all) != before {
		t.Fatal("zeroing test left the model changed")
	}
	if len(z.Controls) != 8 {
		t.Fatalf("%d controls", len(z.Controls))
	}
	for _, c := range z.Controls {
		if math.Abs(math.Log(c.Ratio)) >= math.Abs(math.Log(z.PPLRatio)) {
			t.Errorf("control [%d, %d] moved PPL ×%.4f, as much as the planted weight ×%.4f", c.Row, c.Col, c.Ratio, z.PPLRatio)
		}
	}
}

func TestDetectNoSpike(t *testing.T) {
	m := tinyModel(t, 4, 2)
	r, err := Detect(context.Background(), m, []int{1, 2, 3, 4, 5}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Candidates) != 1 || r.Candidates[0].Flagged {
		t.Fatalf("a random model should give one unflagged strongest-layer candidate: %+v", r.Candidates)
	}
	if _, err := Detect(context.Background(), m, []int{1, 2}, 1); err == nil {
		t.Error("threshold 1 accepted")
	}
}

// Every family names its MLP output projection differently (down_proj,
// dense_4h_to_h, per-expert w2); the detector must find them all and name a
// candidate inside a real tensor.
func TestDetectEveryFamily(t *testing.T) {
	for _, fam := range []string{"llama3", "mistral", "phi3", "mixtral", "gpt_neox"} {
		m, err := checkpoint.Load(filepath.Join("..", "..", "model", "testdata", "tiny", fam), checkpoint.Options{})
		if err != nil {
			t.Fatalf("%s: %v", fam, err)
		}
		ids := make([]int, 24)
		for i := range ids {
			ids[i] = (7*i + 3) % m.Config.Vocab
		}
		r, err := Detect(context.Background(), m, ids, 10)
		if err != nil {
			t.Fatalf("%s: %v", fam, err)
		}
		if len(r.Layers) != m.Config.Layers || len(r.Candidates) == 0 {
			t.Fatalf("%s: %d layers, %d candidates", fam, len(r.Layers), len(r.Candidates))
		}
		c := r.Candidates[0]
		w := m.Param(c.Param)
		if w == nil || c.Row >= w.Rows() || c.Col >= w.Cols() || w.At(c.Flat) != c.Weight {
			t.Fatalf("%s: candidate %+v does not point into a weight", fam, c)
		}
	}
}
