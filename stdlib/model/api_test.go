package model_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestSpecsOrderAndAgreement(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := storiesConfig()
		cfg.TiedEmbeds = tied
		sp, err := model.Specs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := 2 + 9*cfg.Layers
		if !tied {
			want++
		}
		if len(sp) != want {
			t.Fatalf("tied=%v: %d specs, want %d", tied, len(sp), want)
		}
		if sp[0].Name != "model.embed_tokens.weight" || sp[1].Name != "model.layers.0.self_attn.q_proj.weight" ||
			sp[9].Name != "model.layers.0.post_attention_layernorm.weight" {
			t.Errorf("unexpected order: %v %v %v", sp[0].Name, sp[1].Name, sp[9].Name)
		}
		if !slices.Equal(sp[2].Shape, []int{32, 64}) { // k_proj: 4 kv heads × head_dim 8
			t.Errorf("k_proj shape %v", sp[2].Shape)
		}
		// The config-only spec list (size.go, used by `esa info`) must agree.
		all, err := model.ParamSpecs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(sp) {
			t.Fatalf("ParamSpecs has %d tensors, Specs %d", len(all), len(sp))
		}
		for i := range sp {
			if all[i].Name != sp[i].Name || !slices.Equal(all[i].Shape, sp[i].Shape) {
				t.Errorf("spec %d: Specs %v %v, ParamSpecs %v %v", i, sp[i].Name, sp[i].Shape, all[i].Name, all[i].Shape)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	cfg := storiesConfig()
	fresh := func() []*tensor.Tensor { return randomTensors(t, cfg, tensor.F32, 1) }
	without := func(ts []*tensor.Tensor, name string) []*tensor.Tensor {
		return slices.DeleteFunc(ts, func(x *tensor.Tensor) bool { return x.Name == name })
	}

	_, err := model.New(cfg, without(fresh(), "model.layers.2.self_attn.q_proj.weight"))
	wantErr(t, err, `missing tensor "model.layers.2.self_attn.q_proj.weight"`, "[64 64]")

	bad := cfg
	bad.KVHeads = 8
	_, err = model.New(bad, fresh())
	wantErr(t, err, `"model.layers.0.self_attn.k_proj.weight" has shape [32 64], config expects [64 64]`, "num_key_value_heads")

	bad = cfg
	bad.Vocab = 500
	_, err = model.New(bad, fresh())
	wantErr(t, err, `"model.embed_tokens.weight" has shape [512 64]`, "vocab_size = 500")

	ts := fresh()
	ts = append(ts, tensor.New("model.layers.9.mlp.up_proj.weight", tensor.F32, 172, 64))
	_, err = model.New(cfg, ts)
	wantErr(t, err, `unexpected tensor "model.layers.9.mlp.up_proj.weight"`)

	ts = fresh()
	ts = append(ts, ts[3])
	_, err = model.New(cfg, ts)
	wantErr(t, err, "appears twice", ts[3].Name)

	ts = fresh()
	ts[5].Data = ts[5].Data[:8]
	_, err = model.New(cfg, ts)
	wantErr(t, err, ts[5].Name, "bytes")

	// Tied: an lm_head equal to the embedding is accepted and dropped; a
	// different one is an error.
	ts = fresh()
	lm := ts[0].Convert(tensor.F32)
	lm.Name = "lm_head.weight"
	m, err := model.New(cfg, append(ts, lm))
	if err != nil {
		t.Fatalf("tied checkpoint storing an equal lm_head: %v", err)
	}
	if m.ParamIndex("lm_head.weight") != -1 || len(m.Params) != 2+9*cfg.Layers {
		t.Error("tied lm_head was kept as a parameter")
	}
	lm.Set(0, lm.At(0)+1)
	_, err = model.New(cfg, append(fresh(), lm))
	wantErr(t, err, "lm_head.weight", "differs")

	for _, tc := range []struct {
		edit func(*model.Config)
		want []string
	}{
		{func(c *model.Config) { c.Architecture = "gpt9" }, []string{`"gpt9"`, "supported: gpt_neox, llama, mistral, mixtral, phi3"}},
		{func(c *model.Config) { c.Heads = 0 }, []string{"num_attention_heads = 0"}},
		{func(c *model.Config) { c.KVHeads = 3 }, []string{"num_key_value_heads = 3"}},
		{func(c *model.Config) { c.NormEps = 0 }, []string{"rms_norm_eps"}},
		{func(c *model.Config) { c.HiddenAct = "gelu" }, []string{"gelu", "valid: silu"}},
		{func(c *model.Config) { c.RopeScaling = map[string]any{"rope_type": "yarn", "factor": 2.0} }, []string{"yarn", "default, linear, llama3"}},
	} {
		c := cfg
		tc.edit(&c)
		_, err := model.New(c, fresh())
		wantErr(t, err, tc.want...)
		_, err = model.Specs(c)
		wantErr(t, err, tc.want...)
	}
}

func TestPassErrors(t *testing.T) {
	m := randomModel(t, storiesConfig(), tensor.F32, 2)
	_, err := m.Forward([]int{1, 512}, nil)
	wantErr(t, err, "token id 512 at position 1", "[0, 512)")
	_, err = m.Forward(nil, nil)
	wantErr(t, err, "empty")
	_, err = m.Forward(make([]int, 513), nil)
	wantErr(t, err, "513 tokens", "max_position_embeddings = 512")

	p, err := m.Forward([]int{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := m.NewGrads()
	wantErr(t, p.Backward(make([]float32, 3*512), g), "KeepActivations")
	p.Release()

	p, err = m.Forward([]int{1, 2, 3}, &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, p.Backward(make([]float32, 5), g), "dlogits has 5 values")
	wantErr(t, p.Backward(make([]float32, 3*512), &model.Grads{G: g.G[:3]}), "gradients hold 3 tensors")
	p.Release()
	wantErr(t, p.Backward(make([]float32, 3*512), g), "after Release")
}

// TestBackwardMatchesLossAndGrad: Backward with the CrossEntropy gradient
// gives LossAndGrad's gradients, and gradients accumulate across calls.
func TestBackwardMatchesLossAndGrad(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 4)
	ids := randomIDs(40, cfg.Vocab, 5)

	g1 := m.NewGrads()
	sum, n, err := m.LossAndGrad(ids, g1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Forward(ids, &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	s2, n2, dl := model.CrossEntropy(p.Logits, cfg.Vocab, nextTokenTargets(ids))
	if n2 != n || math.Abs(s2-sum) > 1e-6*math.Abs(sum) {
		t.Errorf("CrossEntropy %g over %d, LossAndGrad %g over %d", s2, n2, sum, n)
	}
	g2 := m.NewGrads()
	if err := p.Backward(dl, g2); err != nil {
		t.Fatal(err)
	}
	p.Release()
	for i := range g1.G {
		if e := relErr(g2.G[i], g1.G[i]); e > 1e-5 {
			t.Errorf("%s: Backward vs LossAndGrad rel err %.3g", m.Params[i].Name, e)
		}
	}
	// A second call adds the same gradient again.
	if _, _, err := m.LossAndGrad(ids, g1); err != nil {
		t.Fatal(err)
	}
	for i := range g1.G {
		twice := make([]float32, len(g2.G[i]))
		for j, v := range g2.G[i] {
			twice[j] = 2 * v
		}
		if e := relErr(g1.G[i], twice); e > 1e-5 {
			t.Errorf("%s: accumulated gradient rel err %.3g", m.Params[i].Name, e)
		}
	}
	g1.Zero()
	for _, v := range g1.G[0] {
		if v != 0 {
			t.Fatal("Zero left a non-zero gradient")
		}
	}
}

// TestInPlaceEditIsSeen: F32 weights are read where they are stored, so an
// in-place change shows in the next pass and restoring it restores the
// logits bit for bit (what ESA perturbations rely on).
func TestInPlaceEditIsSeen(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 6)
	ids := randomIDs(20, cfg.Vocab, 7)
	logits := func() []float32 { return forwardLogits(t, m, ids) }
	before := logits()
	w := m.Param("model.layers.1.mlp.down_proj.weight")
	old := w.Bits(100)
	w.Set(100, 50)
	m.Invalidate(m.ParamIndex(w.Name))
	if slices.Equal(logits(), before) {
		t.Fatal("changing a weight in place did not change the logits")
	}
	w.SetBits(100, old)
	m.Invalidate(m.ParamIndex(w.Name))
	if !slices.Equal(logits(), before) {
		t.Fatal("restoring the weight did not restore the logits bit for bit")
	}
}

// TestHooks checks what each event carries against independent products:
// the head's input times the head matrix is the logits, down_proj's output
// is its input times its weight, and layer 0's q/k/v input is the RMS-normed
// embedding.
func TestHooks(t *testing.T) {
	cfg := storiesConfig()
	cfg.TiedEmbeds = false
	m := randomModel(t, cfg, tensor.F32, 8)
	ids := randomIDs(30, cfg.Vocab, 9)
	type ev struct {
		model.HookEvent
		x []float32
	}
	var evs []ev
	hook := func(e model.HookEvent) {
		evs = append(evs, ev{e, append([]float32(nil), e.X...)})
	}
	p, err := m.Forward(ids, &model.ForwardOptions{Hook: hook})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if want := 8*cfg.Layers + 1; len(evs) != want {
		t.Fatalf("%d events, want %d", len(evs), want)
	}
	// Every linear weight gets exactly one input event.
	inputs := map[int]bool{}
	for _, e := range evs {
		if e.Site == model.SiteInput {
			inputs[e.Param] = true
		}
		if e.Rows != len(ids) || len(e.X) != e.Rows*e.Cols {
			t.Errorf("%s %s: %d×%d with %d values", m.Params[e.Param].Name, e.Site, e.Rows, e.Cols, len(e.X))
		}
	}
	for i, par := range m.Params {
		if len(par.Shape) == 2 && par.Name != "model.embed_tokens.weight" && !inputs[i] {
			t.Errorf("no input event for %s", par.Name)
		}
	}

	last := evs[len(evs)-1]
	if last.Layer != -1 || m.Params[last.Param].Name != "lm_head.weight" {
		t.Fatalf("last event is %s of layer %d, want the head", m.Params[last.Param].Name, last.Layer)
	}
	if e := relErr(p.Logits, matmul(last.x, last.Rows, m.Params[last.Param], nil)); e > 1e-5 {
		t.Errorf("head input × lm_head differs from the logits: %.3g", e)
	}
	for i, e := range evs {
		if e.Site != model.SiteOutput {
			continue
		}
		in := evs[i-1]
		if !strings.HasSuffix(m.Params[e.Param].Name, "mlp.down_proj.weight") || in.Param != e.Param || in.Site != model.SiteInput {
			t.Fatalf("output event for %s not preceded by its input", m.Params[e.Param].Name)
		}
		if err := relErr(e.x, matmul(in.x, in.Rows, m.Params[e.Param], nil)); err > 1e-5 {
			t.Errorf("layer %d down_proj output ≠ input × weight: %.3g", e.Layer, err)
		}
	}
	first := evs[0]
	if m.Params[first.Param].Name != "model.layers.0.self_attn.q_proj.weight" {
		t.Fatalf("first event %s", m.Params[first.Param].Name)
	}
	emb, gain := m.Params[0].Float32(), m.Param("model.layers.0.input_layernorm.weight").Float32()
	D := cfg.Dim
	for r, id := range ids {
		x := emb[id*D : (id+1)*D]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		rs := 1 / math.Sqrt(ss/float64(D)+cfg.NormEps)
		for j, v := range x {
			want := float64(gain[j]) * float64(v) * rs
			if math.Abs(float64(first.x[r*D+j])-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Fatalf("layer 0 q input [%d,%d] = %g, want %g", r, j, first.x[r*D+j], want)
			}
		}
	}
}

// TestConcurrentPasses: passes from several goroutines each get their own
// workspace and the same answer.
func TestConcurrentPasses(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 10)
	ids := randomIDs(50, cfg.Vocab, 11)
	want := m.NewGrads()
	wantSum, _, err := m.LossAndGrad(ids, want)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := m.NewGrads()
			s, _, err := m.LossAndGrad(ids, g)
			if err != nil || s != wantSum || !slices.Equal(g.G[0], want.G[0]) {
				errs <- "concurrent LossAndGrad gave a different result"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	m.DropWorkspaces()
	g := m.NewGrads()
	if s, _, err := m.LossAndGrad(ids, g); err != nil || s != wantSum {
		t.Fatalf("after DropWorkspaces: %v, loss %g want %g", err, s, wantSum)
	}
}

// TestHooksOnReferencePath: on the float64 backend, whose buffers are not
// host float32, hooks get converted copies of the same activations.
func TestHooksOnReferencePath(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 12)
	ids := randomIDs(16, cfg.Vocab, 13)
	var x32, x64 [][]float32
	p, err := m.Forward(ids, &model.ForwardOptions{Hook: func(e model.HookEvent) { x32 = append(x32, slices.Clone(e.X)) }})
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	p64, err := m.Forward64(ids, &model.ForwardOptions{Hook: func(e model.HookEvent) { x64 = append(x64, slices.Clone(e.X)) }})
	if err != nil {
		t.Fatal(err)
	}
	p64.Release()
	if len(x32) != len(x64) || len(x32) == 0 {
		t.Fatalf("%d float32 events, %d float64 events", len(x32), len(x64))
	}
	for i := range x32 {
		if e := relErr(x64[i], x32[i]); e > 1e-4 {
			t.Errorf("event %d: float64 and float32 activations differ by %.3g", i, e)
		}
	}
}

func TestGenerateStopsAndCancels(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 14)
	all, err := m.Generate(context.Background(), []int{1, 5}, 12, -1)
	if err != nil || len(all) != 12 {
		t.Fatalf("Generate: %v, %d tokens", err, len(all))
	}
	// Declaring the 4th generated token the EOS stops right before it
	// (greedy decoding is deterministic, so the first three repeat).
	stop, err := m.Generate(context.Background(), []int{1, 5}, 12, all[3])
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Index(all, all[3]); !slices.Equal(stop, all[:want]) {
		t.Fatalf("with eos %d got %v, want %v", all[3], stop, all[:want])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, []int{1}, 5, -1); err != context.Canceled {
		t.Fatalf("cancelled context: err %v", err)
	}
	// Generation stops at max_position_embeddings.
	short := cfg
	short.MaxSeqLen = 8
	ms, err := model.New(short, m.Params)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ms.Generate(context.Background(), []int{1, 2, 3}, 100, -1)
	if err != nil || len(out) != 6 {
		t.Fatalf("max_position_embeddings 8, prompt 3: %d tokens (%v), want 6", len(out), err)
	}
}
