package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// Golden tests of the model families against the independent PyTorch
// references in testdata (gen_golden_families.py; format in testdata/README.md):
// logits, mean loss and the gradient of every parameter of a tiny random
// Hugging Face checkpoint per family, float32 engine vs float64 goldens,
// per-tensor max|a−b|/max|b| ≤ 1e-4.

const familyGoldenTol = 1e-4

type golden struct {
	ids  []int
	vals map[string][]float32
	meta map[string]string
}

func readGolden(t testing.TB, path string) golden {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := golden{vals: map[string][]float32{}, meta: f.Metadata}
	for _, ts := range f.Tensors {
		g.vals[ts.Name] = append([]float32(nil), ts.Float32()...)
	}
	for _, v := range g.vals["ids"] {
		g.ids = append(g.ids, int(v))
	}
	if len(g.ids) < 2 || g.vals["logits"] == nil || g.vals["loss"] == nil {
		t.Fatalf("%s: golden lacks ids, logits or loss", path)
	}
	return g
}

// loadTiny reads testdata/tiny/<name> as a Hugging Face checkpoint: its
// config.json (with the golden's config_override applied) and model.safetensors.
func loadTiny(t testing.TB, name string, override string) (Config, []*tensor.Tensor) {
	t.Helper()
	dir := filepath.Join("testdata", "tiny", name)
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if override != "" {
		var m, o map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(override), &o); err != nil {
			t.Fatalf("config_override %q: %v", override, err)
		}
		for k, v := range o {
			m[k] = v
		}
		if raw, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ParseHFConfig(raw)
	if err != nil {
		t.Fatalf("%s/config.json: %v", dir, err)
	}
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return cfg, f.Tensors
}

// relErr is max|got−want| / max|want|.
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

// familyGoldens maps each golden in testdata to its tiny checkpoint.
var familyGoldens = []struct{ golden, checkpoint string }{
	{"llama3", "llama3"},
	{"mistral", "mistral"},
	{"phi3", "phi3"},
	{"mixtral", "mixtral"},
	{"gpt_neox", "gpt_neox"},
	{"gpt_neox_sequential", "gpt_neox"},
}

// familyResult is what a golden is compared with.
type familyResult struct {
	loss   float64 // mean next-token NLL
	logits []float32
	grads  map[string][]float32
}

// runFamily computes loss, logits and gradients on be,
// through Model for the families it runs and through the family's own entry
// point for those not wired into Model yet (gpt_neox, mixtral, phi3,
// mistral). skip says why a case does not run.
func runFamily(t *testing.T, be backend.Backend, cfg Config, tensors []*tensor.Tensor, ids []int) (r familyResult, skip string) {
	t.Helper()
	r.grads = map[string][]float32{}
	var params []*tensor.Tensor
	var lossAndGrad func(backend.Backend, []int, [][]float32) (float64, int, []float32, error)
	switch cfg.Architecture {
	case "gpt_neox":
		n, err := newNeoX(cfg, tensors)
		if err != nil {
			t.Fatal(err)
		}
		params, lossAndGrad = n.params, n.lossAndGrad
	case "mixtral":
		m, err := newMixtral(cfg, tensors)
		if err != nil {
			t.Fatal(err)
		}
		params, lossAndGrad = m.params, m.lossAndGrad
	case "phi3", "mistral":
		m, err := newPhi3(cfg, tensors)
		if err != nil {
			t.Fatal(err)
		}
		params, lossAndGrad = m.params, m.lossAndGrad
	}
	if lossAndGrad != nil {
		g := make([][]float32, len(params))
		for i, p := range params {
			g[i] = make([]float32, p.Len())
		}
		sum, cnt, logits, err := lossAndGrad(be, ids, g)
		if err != nil {
			t.Fatal(err)
		}
		r.loss, r.logits = sum/float64(cnt), logits
		for i, p := range params {
			r.grads[p.Name] = g[i]
		}
		return r, ""
	}
	m, err := New(cfg, tensors)
	if err != nil {
		if strings.Contains(err.Error(), "not supported") {
			return r, "family not implemented yet: " + err.Error()
		}
		t.Fatal(err)
	}
	if be.Name() == backend.CPU64().Name() {
		// Model's float64 path is its own API (LossAndGrad64/Forward64).
		g64 := m.NewGrads64()
		sum, n, err := m.LossAndGrad64(ids, g64)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Forward64(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.loss, r.logits = sum/float64(n), f32s(p.Logits)
		p.Release()
		for i, par := range m.Params {
			r.grads[par.Name] = f32s(g64.G[i])
		}
		return r, ""
	}
	grads := m.NewGrads()
	sum, n, err := m.LossAndGrad(ids, grads)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.loss, r.logits = sum/float64(n), append([]float32(nil), p.Logits...)
	p.Release()
	for i, par := range m.Params {
		r.grads[par.Name] = grads.G[i]
	}
	return r, ""
}

func TestFamilyGoldens(t *testing.T) {
	// The float64 CPU backend runs the same family code (and the float64
	// branch of the host ops); its results, rounded to float32, must sit
	// within float32 rounding of the goldens.
	backends := []struct {
		be  backend.Backend
		tol float64
	}{{backend.CPU(), familyGoldenTol}, {backend.CPU64(), 1e-6}}
	for _, fg := range familyGoldens {
		for _, b := range backends {
			t.Run(fg.golden+"/"+b.be.Name(), func(t *testing.T) {
				g := readGolden(t, filepath.Join("testdata", fg.golden+"_golden.safetensors"))
				cfg, tensors := loadTiny(t, fg.checkpoint, g.meta["config_override"])
				r, skip := runFamily(t, b.be, cfg, tensors, g.ids)
				if skip != "" {
					t.Skip(skip)
				}
				if want := float64(g.vals["loss"][0]); math.Abs(r.loss-want) > b.tol*math.Abs(want) {
					t.Errorf("loss %.7f, golden %.7f", r.loss, want)
				}
				worst, worstName := 0.0, ""
				check := func(name string, got, want []float32) {
					e := relErr(got, want)
					if e > worst {
						worst, worstName = e, name
					}
					if e > b.tol {
						t.Errorf("%s: max rel err %.3g > %g", name, e, b.tol)
					}
				}
				check("logits", r.logits, g.vals["logits"])
				for name, got := range r.grads {
					want, ok := g.vals["grad."+name]
					if !ok {
						t.Errorf("golden has no gradient for %s", name)
						continue
					}
					check("grad."+name, got, want)
				}
				if len(r.grads) != countGrads(g) {
					t.Errorf("model has %d parameters, golden %d gradients", len(r.grads), countGrads(g))
				}
				t.Logf("max rel err %.3g (%s)", worst, worstName)
			})
		}
	}
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func countGrads(g golden) int {
	n := 0
	for k := range g.vals {
		if strings.HasPrefix(k, "grad.") {
			n++
		}
	}
	return n
}

// BenchmarkFamilyTiny measures forward+backward tokens/s (one loss-and-
// gradient pass per op) of each tiny checkpoint on its golden sequence, on
// the float32 CPU backend:
//
//	go test ./stdlib/model -run '^$' -bench FamilyTiny
func BenchmarkFamilyTiny(b *testing.B) {
	for _, fg := range familyGoldens {
		b.Run(fg.golden, func(b *testing.B) {
			g := readGolden(b, filepath.Join("testdata", fg.golden+"_golden.safetensors"))
			cfg, tensors := loadTiny(b, fg.checkpoint, g.meta["config_override"])
			var params []*tensor.Tensor
			var run func(backend.Backend, []int, [][]float32) (float64, int, []float32, error)
			switch cfg.Architecture {
			case "gpt_neox":
				n, err := newNeoX(cfg, tensors)
				if err != nil {
					b.Fatal(err)
				}
				params, run = n.params, n.lossAndGrad
			case "mixtral":
				m, err := newMixtral(cfg, tensors)
				if err != nil {
					b.Fatal(err)
				}
				params, run = m.params, m.lossAndGrad
			case "phi3", "mistral":
				m, err := newPhi3(cfg, tensors)
				if err != nil {
					b.Fatal(err)
				}
				params, run = m.params, m.lossAndGrad
			default:
				m, err := New(cfg, tensors)
				if err != nil {
					b.Skip(err)
				}
				gr := m.NewGrads()
				run = func(_ backend.Backend, ids []int, _ [][]float32) (float64, int, []float32, error) {
					s, n, err := m.LossAndGrad(ids, gr)
					return s, n, nil, err
				}
			}
			grads := make([][]float32, len(params))
			for i, p := range params {
				grads[i] = make([]float32, p.Len())
			}
			be := backend.CPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, _, err := run(be, g.ids, grads); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(g.ids)*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
