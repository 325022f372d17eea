package model_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"esa/stdlib/backend"
	"esa/stdlib/checkpoint"
	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// Every family through the public API: the tiny Hugging Face checkpoints of
// testdata/tiny loaded with package checkpoint, compared with the PyTorch
// goldens of testdata/gen_golden_families.py (format in testdata/README.md),
// checked by finite differences in float64, decoded with the KV cache, and
// hooked.

// tinyCases maps each golden to its checkpoint; the golden's metadata may
// override config values (gpt_neox_sequential: use_parallel_residual false).
var tinyCases = []struct{ golden, dir string }{
	{"llama3", "llama3"},
	{"mistral", "mistral"},
	{"phi3", "phi3"},
	{"mixtral", "mixtral"},
	{"gpt_neox", "gpt_neox"},
	{"gpt_neox_sequential", "gpt_neox"},
}

type golden struct {
	ids  []int
	vals map[string][]float32
	meta map[string]string
}

func readGolden(t testing.TB, name string) golden {
	t.Helper()
	path := filepath.Join("testdata", name+"_golden.safetensors")
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

// loadTiny loads testdata/tiny/<dir> with checkpoint.Load, or, with an
// override (JSON object of config.json keys), opens it, re-parses its
// config.json with the override applied and builds the model from that.
func loadTiny(t testing.TB, dir, override string) *model.Model {
	t.Helper()
	path := filepath.Join("testdata", "tiny", dir)
	if override == "" {
		m, err := checkpoint.Load(path, checkpoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	c, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	raw, err := os.ReadFile(filepath.Join(path, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg, o map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(override), &o); err != nil {
		t.Fatalf("override %q: %v", override, err)
	}
	for k, v := range o {
		cfg[k] = v
	}
	if raw, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if c.Config, err = model.ParseHFConfig(raw); err != nil {
		t.Fatal(err)
	}
	m, err := c.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withConfig rebuilds m's parameters under an edited config.
func withConfig(t testing.TB, m *model.Model, edit func(*model.Config)) *model.Model {
	t.Helper()
	c := m.Config
	edit(&c)
	out, err := model.New(c, m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFamilyGoldens compares loss, logits and the gradient of every
// parameter with the golden: float32 (Forward, LossAndGrad) within 1e-4 of
// max|golden| per tensor, float64 (Forward64, LossAndGrad64) within float32
// rounding of the float64 goldens.
func TestFamilyGoldens(t *testing.T) {
	for _, tc := range tinyCases {
		g := readGolden(t, tc.golden)
		m := loadTiny(t, tc.dir, g.meta["config_override"])
		for _, prec := range []string{"f32", "f64"} {
			t.Run(tc.golden+"/"+prec, func(t *testing.T) {
				var loss float64
				var logits []float32
				grads := map[string][]float32{}
				if prec == "f32" {
					gr := m.NewGrads()
					sum, n, err := m.LossAndGrad(g.ids, gr)
					if err != nil {
						t.Fatal(err)
					}
					p, err := m.Forward(g.ids, nil)
					if err != nil {
						t.Fatal(err)
					}
					loss, logits = sum/float64(n), slices.Clone(p.Logits)
					p.Release()
					for i, par := range m.Params {
						grads[par.Name] = gr.G[i]
					}
				} else {
					gr := m.NewGrads64()
					sum, n, err := m.LossAndGrad64(g.ids, gr)
					if err != nil {
						t.Fatal(err)
					}
					p, err := m.Forward64(g.ids, nil)
					if err != nil {
						t.Fatal(err)
					}
					loss, logits = sum/float64(n), f32s(p.Logits)
					p.Release()
					for i, par := range m.Params {
						grads[par.Name] = f32s(gr.G[i])
					}
				}
				tol := 1e-4
				if prec == "f64" {
					tol = 1e-6
				}
				if want := float64(g.vals["loss"][0]); math.Abs(loss-want) > tol*math.Abs(want) {
					t.Errorf("loss %.7f, golden %.7f", loss, want)
				}
				worst, worstName := 0.0, ""
				check := func(name string, got, want []float32) {
					e := relErr(got, want)
					if e > worst {
						worst, worstName = e, name
					}
					if e > tol {
						t.Errorf("%s: max rel err %.3g > %g", name, e, tol)
					}
				}
				check("logits", logits, g.vals["logits"])
				nGolden := 0
				for k := range g.vals {
					if strings.HasPrefix(k, "grad.") {
						nGolden++
					}
				}
				if len(grads) != nGolden {
					t.Errorf("model has %d parameters, golden %d gradients", len(grads), nGolden)
				}
				for name, got := range grads {
					want, ok := g.vals["grad."+name]
					if !ok {
						t.Errorf("golden has no gradient for %s", name)
						continue
					}
					check("grad."+name, got, want)
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

// TestFamilyGradCheck: finite differences in float64 on each tiny
// checkpoint (F64 copies of its weights), 3 coordinates per parameter kind
// (27 to 51 per family). Mistral and Phi-3 get a 5-token window so that the
// 12-token sequence is windowed.
func TestFamilyGradCheck(t *testing.T) {
	for _, tc := range []struct {
		name, dir, override string
		window              int
	}{
		{"llama3", "llama3", "", 0},
		{"mistral", "mistral", "", 5},
		{"phi3", "phi3", "", 5},
		{"mixtral", "mixtral", "", 0},
		{"gpt_neox", "gpt_neox", "", 0},
		{"gpt_neox_sequential", "gpt_neox", `{"use_parallel_residual": false}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadTiny(t, tc.dir, tc.override)
			if tc.window > 0 {
				m = withConfig(t, m, func(c *model.Config) { c.SlidingWindow = tc.window })
			}
			m = convertModel(t, m, tensor.F64)
			gradCheck(t, m, randomIDs(12, m.Config.Vocab, 21), 3, 27, 22)
		})
	}
}

// TestFamilyGenerate: for every family the KV-cache path picks, at every
// step, the argmax of a full forward over the same prefix. Mistral (window
// 16) and Phi-3 (window 20) decode past their windows.
func TestFamilyGenerate(t *testing.T) {
	for _, tc := range tinyCases[:5] {
		t.Run(tc.golden, func(t *testing.T) {
			generateMatchesForward(t, loadTiny(t, tc.dir, ""), []int{1, 17, 42, 5}, 30)
		})
	}
}

// TestFamilyHooks checks the events of every family against what HookEvent
// documents: one input event per weight tensor that ran (a fused tensor
// once), shapes that fit the weight, rows that are the sequence or a
// Mixtral expert's tokens (each token in exactly k experts), down
// projections (Model.DownProjs) reporting input × weight as their output,
// and the head's input times the head giving the logits.
func TestFamilyHooks(t *testing.T) {
	for _, tc := range tinyCases[:5] {
		t.Run(tc.golden, func(t *testing.T) {
			m := loadTiny(t, tc.dir, "")
			ids := randomIDs(19, m.Config.Vocab, 31)
			type ev struct {
				model.HookEvent
				x []float32
			}
			var evs []ev
			p, err := m.Forward(ids, &model.ForwardOptions{Hook: func(e model.HookEvent) {
				e.Tokens = slices.Clone(e.Tokens) // like X, valid during the call only
				evs = append(evs, ev{e, slices.Clone(e.X)})
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()

			inputs := map[int]int{}
			lastInput := map[int]ev{}
			tokensPerLayer := map[int]map[int]int{} // Mixtral: layer → token → experts (w1 events)
			for _, e := range evs {
				w := m.Params[e.Param]
				rows := len(ids)
				if e.Tokens != nil {
					rows = len(e.Tokens)
				}
				if e.Layer == -1 {
					rows = len(ids)
				}
				cols := w.Shape[1]
				if e.Site == model.SiteOutput {
					cols = w.Shape[0]
				}
				if e.Rows != rows || e.Cols != cols || len(e.X) != e.Rows*e.Cols {
					t.Errorf("%s %s: %d×%d with %d values, want %d×%d", w.Name, e.Site, e.Rows, e.Cols, len(e.X), rows, cols)
				}
				if e.Site == model.SiteInput {
					inputs[e.Param]++
					lastInput[e.Param] = e
					if strings.HasSuffix(w.Name, ".w1.weight") {
						if tokensPerLayer[e.Layer] == nil {
							tokensPerLayer[e.Layer] = map[int]int{}
						}
						for _, tok := range e.Tokens {
							tokensPerLayer[e.Layer][tok]++
						}
					}
					continue
				}
				// An output event follows its weight's input event.
				in, ok := lastInput[e.Param]
				if !ok {
					t.Fatalf("output event of %s before its input", w.Name)
				}
				if !slices.Equal(in.Tokens, e.Tokens) {
					t.Errorf("%s: output tokens %v, input tokens %v", w.Name, e.Tokens, in.Tokens)
				}
				bias := m.Param(strings.TrimSuffix(w.Name, ".weight") + ".bias")
				if err := relErr(e.x, matmul(in.x, in.Rows, w, bias)); err > 1e-5 {
					t.Errorf("%s output ≠ input × weight: %.3g", w.Name, err)
				}
			}
			for i, par := range m.Params {
				if len(par.Shape) != 2 || i == 0 {
					continue
				}
				n := inputs[i]
				switch {
				case strings.Contains(par.Name, ".experts."):
					if n > 1 {
						t.Errorf("%s: %d input events", par.Name, n)
					}
				case n != 1:
					t.Errorf("%s: %d input events, want 1", par.Name, n)
				}
			}
			if k := m.Config.ExpertsPerToken; m.Config.NumExperts > 0 {
				for l := 0; l < m.Config.Layers; l++ {
					for pos := range ids {
						if got := tokensPerLayer[l][pos]; got != k {
							t.Errorf("layer %d token %d went to %d experts, want %d", l, pos, got, k)
						}
					}
				}
			}
			for l := 0; l < m.Config.Layers; l++ {
				for _, d := range m.DownProjs(l) {
					if inputs[d] == 0 && !strings.Contains(m.Params[d].Name, ".experts.") {
						t.Errorf("layer %d: down projection %s reported nothing", l, m.Params[d].Name)
					}
				}
			}
			last := evs[len(evs)-1]
			if last.Layer != -1 || last.Param != m.ParamIndex(headName(m)) {
				t.Fatalf("last event is %s of layer %d, want the head", m.Params[last.Param].Name, last.Layer)
			}
			if e := relErr(p.Logits, matmul(last.x, last.Rows, m.Params[last.Param], nil)); e > 1e-5 {
				t.Errorf("head input × head differs from the logits: %.3g", e)
			}
		})
	}
}

func headName(m *model.Model) string {
	for _, n := range []string{"lm_head.weight", "embed_out.weight"} {
		if m.ParamIndex(n) >= 0 {
			return n
		}
	}
	return m.Params[0].Name
}

// recorder is the CPU backend, noting the tensors it is told to invalidate.
type recorder struct {
	backend.Backend
	invalidated []*tensor.Tensor
}

func (r *recorder) Invalidate(t *tensor.Tensor) { r.invalidated = append(r.invalidated, t) }

// TestFusedInvalidate: Phi-3's layers compute with row views of the fused
// qkv_proj and gate_up_proj; Invalidate of a fused parameter reaches each
// view (a backend keying converted copies by tensor would otherwise keep
// stale ones), and an in-place edit of a fused weight changes the logits and
// restoring it restores them bit for bit.
func TestFusedInvalidate(t *testing.T) {
	m := loadTiny(t, "phi3", "")
	rec := &recorder{Backend: backend.CPU()}
	m.SetBackend(rec)
	ids := randomIDs(25, m.Config.Vocab, 41)
	logits := func() []float32 { return forwardLogits(t, m, ids) }
	before := logits()
	for _, name := range []string{"model.layers.1.self_attn.qkv_proj.weight", "model.layers.0.mlp.gate_up_proj.weight"} {
		i := m.ParamIndex(name)
		w := m.Params[i]
		rec.invalidated = nil
		m.Invalidate(i)
		parts := 3
		if strings.Contains(name, "gate_up") {
			parts = 2
		}
		if len(rec.invalidated) != 1+parts || rec.invalidated[0] != w {
			t.Fatalf("%s: invalidated %d tensors, want the parameter and its %d views", name, len(rec.invalidated), parts)
		}
		rows := 0
		for _, v := range rec.invalidated[1:] {
			off := int(uintptrDiff(v.Data, w.Data))
			if off != rows*w.Cols()*w.DType.Size() || v.Cols() != w.Cols() {
				t.Fatalf("%s: view at byte %d (shape %v) is not the next row block", name, off, v.Shape)
			}
			rows += v.Rows()
		}
		if rows != w.Rows() {
			t.Fatalf("%s: views cover %d of %d rows", name, rows, w.Rows())
		}

		// The last row of the fused tensor: v for qkv_proj, up for gate_up_proj.
		j := w.Len() - 3
		old := w.Bits(j)
		w.Set(j, w.At(j)+3)
		m.Invalidate(i)
		if slices.Equal(logits(), before) {
			t.Fatalf("%s: an in-place edit did not change the logits", name)
		}
		w.SetBits(j, old)
		m.Invalidate(i)
		if !slices.Equal(logits(), before) {
			t.Fatalf("%s: restoring the weight did not restore the logits bit for bit", name)
		}
	}
}

// TestFamilyConfigErrors: configs a family cannot run are refused with the
// value named.
func TestFamilyConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		edit func(*model.Config)
		want []string
	}{
		{"phi3", func(c *model.Config) { c.RopeScaling = map[string]any{"type": "su"} }, []string{`"su"`, "longrope"}},
		{"gpt_neox", func(c *model.Config) { c.HiddenAct = "gelu_new" }, []string{"gelu_new", "valid: gelu"}},
		{"gpt_neox", func(c *model.Config) { c.KVHeads = 2 }, []string{"grouped-query"}},
		{"mixtral", func(c *model.Config) { c.ExpertsPerToken = 5 }, []string{"num_experts_per_tok (5)"}},
		{"mistral", func(c *model.Config) { c.NumExperts = 4 }, []string{"num_local_experts = 4"}},
		{"llama3", func(c *model.Config) { c.RotaryDim = 4 }, []string{"partial rotary"}},
		{"llama3", func(c *model.Config) { c.Architecture = "gpt2" }, []string{`"gpt2"`, "gpt_neox, llama, mistral, mixtral, phi3"}},
	} {
		m := loadTiny(t, tc.dir, "")
		c := m.Config
		tc.edit(&c)
		_, err := model.New(c, m.Params)
		wantErr(t, err, tc.want...)
	}
}

// uintptrDiff is the distance in bytes from the start of b to the start of a.
func uintptrDiff(a, b []byte) int64 {
	return int64(uintptr(unsafe.Pointer(&a[0])) - uintptr(unsafe.Pointer(&b[0])))
}

// BenchmarkFamilyTiny measures forward+backward tokens/s (one LossAndGrad of
// the 40-token golden sequence per op) of each tiny checkpoint on the float32
// CPU backend:
//
//	go test ./stdlib/model -run '^$' -bench FamilyTiny
func BenchmarkFamilyTiny(b *testing.B) {
	for _, tc := range tinyCases {
		b.Run(tc.golden, func(b *testing.B) {
			g := readGolden(b, tc.golden)
			m := loadTiny(b, tc.dir, g.meta["config_override"])
			gr := m.NewGrads()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.LossAndGrad(g.ids, gr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(g.ids)*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
