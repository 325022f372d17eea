package model

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// seedConfigs are the five seed models' config.json values (testdata/configs),
// set by hand so the counts are tested independently of the config parser.
var seedConfigs = map[string]Config{
	"Llama-3.1-8B": {Architecture: "llama", Dim: 4096, Hidden: 14336, Layers: 32, Heads: 32, KVHeads: 8,
		Vocab: 128256, MaxSeqLen: 131072},
	"Mistral-7B-v0.3": {Architecture: "mistral", Dim: 4096, Hidden: 14336, Layers: 32, Heads: 32, KVHeads: 8,
		Vocab: 32768, MaxSeqLen: 32768},
	"Phi-3-mini-4k-instruct": {Architecture: "phi3", Dim: 3072, Hidden: 8192, Layers: 32, Heads: 32, KVHeads: 32,
		Vocab: 32064, MaxSeqLen: 4096, SlidingWindow: 2047},
	"Mixtral-8x7B-v0.1": {Architecture: "mixtral", Dim: 4096, Hidden: 14336, Layers: 32, Heads: 32, KVHeads: 8,
		Vocab: 32000, MaxSeqLen: 32768, NumExperts: 8, ExpertsPerToken: 2},
	"pythia-1.4b": {Architecture: "gpt_neox", Dim: 2048, Hidden: 8192, Layers: 24, Heads: 16, KVHeads: 16,
		Vocab: 50304, MaxSeqLen: 2048, AttentionBias: true, ParallelResidual: true, RotaryDim: 32},
}

// Published parameter counts of the seed models (issue 4).
var seedParams = map[string]int64{
	"Llama-3.1-8B":           8_030_261_248,
	"Mistral-7B-v0.3":        7_248_023_552,
	"Phi-3-mini-4k-instruct": 3_821_079_552,
	"Mixtral-8x7B-v0.1":      46_702_792_704,
	"pythia-1.4b":            1_414_647_808,
}

func TestParamCountSeedModels(t *testing.T) {
	for name, cfg := range seedConfigs {
		got, err := ParamCount(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := seedParams[name]; got != want {
			t.Errorf("%s: ParamCount = %d, want %d (diff %d)", name, got, want, got-want)
		}
	}
}

func TestScoredCountLlama31(t *testing.T) {
	got, err := ScoredCount(seedConfigs["Llama-3.1-8B"])
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(8_029_995_008); got != want {
		t.Errorf("Llama-3.1-8B scored = %d, want %d", got, want)
	}
}

// The stories260K checkpoint (tied head, GQA, hidden 172) as an independent
// small check: 512·64 + 5·(2·64 + 64·64·2 + 2·32·64 + 3·64·172) + 64.
func TestParamCountStories260K(t *testing.T) {
	cfg := Config{Architecture: "llama", Dim: 64, Hidden: 172, Layers: 5, Heads: 8, KVHeads: 4, Vocab: 512, TiedEmbeds: true}
	specs, err := ParamSpecs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(512*64 + 5*(2*64+64*64*2+2*32*64+3*64*172) + 64)
	got, _ := ParamCount(cfg)
	if got != want {
		t.Errorf("ParamCount = %d, want %d", got, want)
	}
	for _, s := range specs {
		if s.Name == "lm_head.weight" {
			t.Errorf("tied model lists lm_head.weight")
		}
	}
	scored, _ := ScoredCount(cfg)
	if scored != want-int64(11*64) {
		t.Errorf("ScoredCount = %d, want %d (params minus 11 norm gains)", scored, want-11*64)
	}
}

func TestParamSpecsNames(t *testing.T) {
	cases := map[string][]string{
		"Phi-3-mini-4k-instruct": {"model.layers.31.self_attn.qkv_proj.weight", "model.layers.0.mlp.gate_up_proj.weight", "lm_head.weight"},
		"Mixtral-8x7B-v0.1":      {"model.layers.3.block_sparse_moe.gate.weight", "model.layers.3.block_sparse_moe.experts.7.w2.weight"},
		"pythia-1.4b":            {"gpt_neox.embed_in.weight", "gpt_neox.layers.23.attention.query_key_value.bias", "gpt_neox.final_layer_norm.bias", "embed_out.weight"},
	}
	for model, names := range cases {
		specs, err := ParamSpecs(seedConfigs[model])
		if err != nil {
			t.Fatal(err)
		}
		have := map[string][]int{}
		for _, s := range specs {
			if _, dup := have[s.Name]; dup {
				t.Errorf("%s: %s listed twice", model, s.Name)
			}
			have[s.Name] = s.Shape
		}
		for _, n := range names {
			if _, ok := have[n]; !ok {
				t.Errorf("%s: missing %s", model, n)
			}
		}
	}
	specs, _ := ParamSpecs(seedConfigs["Phi-3-mini-4k-instruct"])
	for _, s := range specs {
		if s.Name == "model.layers.0.self_attn.qkv_proj.weight" && (s.Shape[0] != 3*3072 || s.Shape[1] != 3072) {
			t.Errorf("phi3 qkv_proj shape %v, want [9216 3072]", s.Shape)
		}
	}
}

func TestParamSpecsErrors(t *testing.T) {
	good := seedConfigs["Mistral-7B-v0.3"]
	cases := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Architecture = "bloom" }, "valid: gpt2, gpt_neox, llama, mistral, mixtral, phi3"},
		{func(c *Config) { c.Dim = 0 }, "hidden_size must be > 0"},
		{func(c *Config) { c.KVHeads = 5 }, "not a multiple of num_key_value_heads 5"},
		{func(c *Config) { c.Dim = 4095 }, "not a multiple of num_attention_heads"},
		{func(c *Config) { c.Architecture = "mixtral"; c.NumExperts = 0 }, "num_local_experts"},
	}
	for _, tc := range cases {
		cfg := good
		tc.mutate(&cfg)
		_, err := ParamCount(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestEstimateMemory(t *testing.T) {
	// Mixtral in bf16: ≈93.4 GB of weights alone (2 bytes × 46.7e9).
	m, err := EstimateMemory(seedConfigs["Mixtral-8x7B-v0.1"], tensor.BF16, 512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Weights != 2*46_702_792_704 {
		t.Errorf("Mixtral bf16 weights = %d, want %d", m.Weights, 2*int64(46_702_792_704))
	}
	if !(m.Weights < m.Eval && m.Eval < m.GradPass) {
		t.Errorf("want Weights < Eval < GradPass, got %+v", m)
	}
	// The gradient pass holds a float32 gradient per parameter: at least 4 bytes each on top of the weights.
	if m.GradPass-m.Weights < 4*46_702_792_704 {
		t.Errorf("GradPass %d lacks the float32 gradients", m.GradPass)
	}
	// Activations grow with sequence length and batch.
	cfg := seedConfigs["Llama-3.1-8B"]
	a, _ := EstimateMemory(cfg, tensor.F32, 128, 1)
	b, _ := EstimateMemory(cfg, tensor.F32, 256, 1)
	c, _ := EstimateMemory(cfg, tensor.F32, 256, 2)
	if !(a.GradPass < b.GradPass && b.GradPass < c.GradPass && a.Eval < b.Eval) {
		t.Errorf("estimates do not grow with tokens: %+v %+v %+v", a, b, c)
	}
	if a.Weights != 4*8_030_261_248 {
		t.Errorf("Llama f32 weights = %d", a.Weights)
	}
	if _, err := EstimateMemory(cfg, tensor.F32, 0, 1); err == nil {
		t.Error("seqLen 0 accepted")
	}
}

// The seed configs parsed from testdata/configs give the published counts too.
func TestParamCountParsedSeedConfigs(t *testing.T) {
	for name, want := range seedParams {
		b, err := os.ReadFile(filepath.Join("testdata", "configs", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseHFConfig(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := ParamCount(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s: ParamCount(parsed config) = %d, want %d", name, got, want)
		}
		if name == "Llama-3.1-8B" {
			if s, _ := ScoredCount(cfg); s != 8_029_995_008 {
				t.Errorf("Llama-3.1-8B: ScoredCount(parsed config) = %d, want 8029995008", s)
			}
		}
	}
}

// ParamSpecs of each tiny checkpoint's config.json lists exactly the tensors
// its model.safetensors holds, with the same shapes. (Order is not compared:
// safetensors files are sorted by name.)
func TestParamSpecsMatchTinyCheckpoints(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "tiny", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no tiny checkpoints under testdata/tiny (%v)", err)
	}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseHFConfig(b)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		specs, err := ParamSpecs(cfg)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		have := map[string][]int{}
		var total int64
		for _, ts := range f.Tensors {
			have[ts.Name] = ts.Shape
			total += int64(ts.Len())
		}
		f.Close()
		for _, s := range specs {
			shape, ok := have[s.Name]
			if !ok {
				t.Errorf("%s: config implies %s, checkpoint lacks it", dir, s.Name)
				continue
			}
			if !slices.Equal(shape, s.Shape) {
				t.Errorf("%s: %s has shape %v, ParamSpecs says %v", dir, s.Name, shape, s.Shape)
			}
			delete(have, s.Name)
		}
		for n := range have {
			t.Errorf("%s: checkpoint tensor %s not in ParamSpecs", dir, n)
		}
		if n, _ := ParamCount(cfg); n != total {
			t.Errorf("%s: ParamCount %d, checkpoint holds %d", dir, n, total)
		}
	}
}

// heapInUse is the live heap after collecting garbage twice.
func heapInUse() int64 {
	var s runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&s)
	return int64(s.HeapAlloc)
}

// The gradient-pass estimate (beyond the weights) against what a real pass
// keeps alive: gradients plus the kept workspace of the Llama engine, on the
// tiny llama3 checkpoint at two sequence lengths (attention probabilities
// dominate the longer one). Measured here: ratios 0.91 (T=64) and 0.75
// (T=384); the estimate is a peak, so it may exceed what stays alive.
func TestEstimateMemoryAgainstEngine(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "tiny", "llama3", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseHFConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join("testdata", "tiny", "llama3", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, T := range []int{64, 384} {
		m, err := New(cfg, f.Tensors)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int, T)
		for i := range ids {
			ids[i] = (7*i + 3) % cfg.Vocab
		}
		before := heapInUse()
		g := m.NewGrads()
		if _, _, err := m.LossAndGrad(ids, g); err != nil {
			t.Fatal(err)
		}
		kept := heapInUse() - before
		runtime.KeepAlive(g)
		runtime.KeepAlive(m)
		est, err := EstimateMemory(cfg, tensor.F32, T, 1)
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(kept) / float64(est.GradPass-est.Weights)
		t.Logf("T=%d: kept %d bytes, estimate %d (ratio %.2f)", T, kept, est.GradPass-est.Weights, ratio)
		if ratio < 0.6 || ratio > 1.6 {
			t.Errorf("T=%d: a gradient pass keeps %d bytes beyond the weights, EstimateMemory says %d (ratio %.2f, want 0.6..1.6)",
				T, kept, est.GradPass-est.Weights, ratio)
		}
	}
}

func TestCheckMemory(t *testing.T) {
	mix := seedConfigs["Mixtral-8x7B-v0.1"]
	err := CheckMemory("Mixtral-8x7B-v0.1", mix, tensor.BF16, 512, 1, false, 80e9)
	if err == nil || !strings.Contains(err.Error(), "needs ≈93.4 GB for weights alone; this device has 80.0 GB") {
		t.Errorf("got %v", err)
	}
	// Weights fit in 100 GB but the float32 gradients of a gradient pass do not.
	err = CheckMemory("Mixtral-8x7B-v0.1", mix, tensor.BF16, 512, 1, true, 100e9)
	if err == nil || !strings.Contains(err.Error(), "for a gradient pass over 1×512 tokens") {
		t.Errorf("got %v", err)
	}
	if err := CheckMemory("Mixtral-8x7B-v0.1", mix, tensor.BF16, 512, 1, false, 100e9); err != nil {
		t.Errorf("evaluation in 100 GB: %v", err)
	}
}

// flashSaver is a backend whose attention saves one value per (head, row),
// as the CUDA backend's does; only its AttentionSaver methods are called.
type flashSaver struct{ backend.Backend }

func (flashSaver) AttentionSavedLen(heads, tq, tk int) int { return heads * tq }
func (flashSaver) AttentionProbs(out, probs, q, k, v backend.Buffer, tq, tk, heads, kvHeads, headDim, window int) {
}

// TestEstimateMemoryOnFlashBackend: on a backend that saves [heads, T] for
// the attention backward instead of the probabilities [heads, T, T], a
// gradient pass keeps T·(H·T − H) float32 less per layer, and one layer's
// working set (counted in evaluation and in the gradient pass) shrinks by
// the same.
func TestEstimateMemoryOnFlashBackend(t *testing.T) {
	cfg := seedConfigs["Llama-3.1-8B"]
	const T = 4096
	cpu, err := EstimateMemory(cfg, tensor.BF16, T, 1)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := EstimateMemoryOn(flashSaver{}, cfg, tensor.BF16, T, 1)
	if err != nil {
		t.Fatal(err)
	}
	H, L := int64(cfg.Heads), int64(cfg.Layers)
	layer := T * (H*T - H) * 4
	if got := cpu.GradPass - fl.GradPass; got != (L+1)*layer {
		t.Errorf("GradPass on the CPU %d, on a flash backend %d: difference %d, want %d", cpu.GradPass, fl.GradPass, got, (L+1)*layer)
	}
	if got := cpu.Eval - fl.Eval; got != layer || cpu.Weights != fl.Weights {
		t.Errorf("Eval difference %d, want %d; weights %d vs %d", got, layer, cpu.Weights, fl.Weights)
	}
	// Between the two estimates, the check passes on the flash backend only.
	mid := (cpu.GradPass + fl.GradPass) / 2
	if err := CheckMemoryOn(flashSaver{}, "Llama-3.1-8B", cfg, tensor.BF16, T, 1, true, mid); err != nil {
		t.Errorf("flash backend, %d bytes: %v", mid, err)
	}
	if err := CheckMemory("Llama-3.1-8B", cfg, tensor.BF16, T, 1, true, mid); err == nil {
		t.Errorf("CPU estimate fits in %d bytes", mid)
	}
}
