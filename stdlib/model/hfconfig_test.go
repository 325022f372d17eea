package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// paramCount recomputes a model's size from its parsed config, per family,
// so that the published parameter counts check every mapped field at once.
func hfParamCount(c Config) int64 {
	D, I, L, V := int64(c.Dim), int64(c.Hidden), int64(c.Layers), int64(c.Vocab)
	q, kv := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	emb := V * D
	if !c.TiedEmbeds {
		emb *= 2
	}
	switch c.Architecture {
	case "gpt_neox":
		layer := (3*D*D + 3*D) + (D*D + D) + (D*I + I) + (I*D + D) + 4*D
		return emb + L*layer + 2*D
	default:
		attn := D*q + 2*D*kv + q*D
		mlp := 3 * D * I
		if c.NumExperts > 0 {
			mlp = int64(c.NumExperts)*3*D*I + int64(c.NumExperts)*D
		}
		return emb + L*(attn+mlp+2*D) + D
	}
}

func TestSeedConfigs(t *testing.T) {
	cases := []struct {
		file   string
		params int64
		check  func(t *testing.T, c Config)
	}{
		{"Llama-3.1-8B.json", 8_030_261_248, func(t *testing.T, c Config) {
			if c.Architecture != "llama" || c.KVHeads != 8 || c.RopeTheta != 500000 || c.BOS != 128000 || c.EOS != 128001 ||
				c.OriginalMaxSeqLen != 8192 || c.RopeScaling["rope_type"] != "llama3" || c.DType != "bfloat16" || c.TiedEmbeds {
				t.Errorf("%+v", c)
			}
		}},
		{"Mistral-7B-v0.3.json", 7_248_023_552, func(t *testing.T, c Config) {
			if c.Architecture != "mistral" || c.SlidingWindow != 0 || c.RopeTheta != 1e6 || c.Vocab != 32768 {
				t.Errorf("%+v", c)
			}
		}},
		{"Phi-3-mini-4k-instruct.json", 3_821_079_552, func(t *testing.T, c Config) {
			if c.Architecture != "phi3" || c.SlidingWindow != 2047 || c.EOS != 32000 || c.RopeScaling != nil || c.OriginalMaxSeqLen != 4096 || c.HeadDim != 96 {
				t.Errorf("%+v", c)
			}
		}},
		{"Mixtral-8x7B-v0.1.json", 46_702_792_704, func(t *testing.T, c Config) {
			if c.Architecture != "mixtral" || c.NumExperts != 8 || c.ExpertsPerToken != 2 || c.Hidden != 14336 {
				t.Errorf("%+v", c)
			}
		}},
		{"pythia-1.4b.json", 1_414_647_808, func(t *testing.T, c Config) {
			if c.Architecture != "gpt_neox" || c.RotaryDim != 32 || c.HeadDim != 128 || !c.ParallelResidual || c.TiedEmbeds ||
				c.HiddenAct != "gelu" || c.NormEps != 1e-5 || c.RopeTheta != 10000 || c.BOS != 0 || c.EOS != 0 || !c.AttentionBias {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "configs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseHFConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := hfParamCount(c); got != tc.params {
				t.Errorf("parameters from config = %d, want %d", got, tc.params)
			}
			tc.check(t, c)
		})
	}
}

func TestHFConfigFamilies(t *testing.T) {
	gpt2 := `{"model_type":"gpt2","n_embd":768,"n_layer":12,"n_head":12,"n_inner":null,"vocab_size":50257,"n_positions":1024,
		"activation_function":"gelu_new","layer_norm_epsilon":1e-5,"bos_token_id":50256,"eos_token_id":50256}`
	c, err := ParseHFConfig([]byte(gpt2))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hidden != 3072 || c.HeadDim != 64 || !c.TiedEmbeds || c.HiddenAct != "gelu_new" || c.KVHeads != 12 || c.MaxSeqLen != 1024 {
		t.Errorf("gpt2: %+v", c)
	}
	// Newer transformers spelling for GPT-NeoX, head_dim override, eos list, no model_type.
	c, err = ParseHFConfig([]byte(`{"model_type":"gpt_neox","hidden_size":64,"intermediate_size":256,"num_hidden_layers":2,
		"num_attention_heads":4,"vocab_size":100,"rope_theta":500,"partial_rotary_factor":0.5,"use_parallel_residual":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeTheta != 500 || c.RotaryDim != 8 || c.ParallelResidual {
		t.Errorf("neox: %+v", c)
	}
	c, err = ParseHFConfig([]byte(`{"architectures":["MistralForCausalLM"],"hidden_size":5120,"intermediate_size":14336,"num_hidden_layers":40,
		"num_attention_heads":32,"num_key_value_heads":8,"head_dim":128,"vocab_size":131072,"eos_token_id":[2,7],"sliding_window":4096}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Architecture != "mistral" || c.HeadDim != 128 || c.EOS != 2 || c.BOS != -1 || c.SlidingWindow != 4096 || c.RopeTheta != 10000 {
		t.Errorf("mistral-nemo: %+v", c)
	}
}

func TestHFConfigErrors(t *testing.T) {
	base := `"hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,"vocab_size":512`
	cases := []struct{ json, want string }{
		{`[]`, "not a JSON object"},
		{`{` + base + `}`, "no model_type"},
		{`{"model_type":"bert",` + base + `}`, `"bert" is not supported (supported: gpt2, gpt_neox, llama`},
		{`{"model_type":"llama","hidden_size":64,"num_hidden_layers":5,"num_attention_heads":8,"vocab_size":512}`, "intermediate_size is missing"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":7}`, "num_attention_heads = 7 does not divide hidden_size = 64"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"num_key_value_heads":3}`, "num_key_value_heads = 3 does not divide num_attention_heads = 8"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"num_key_value_heads":0}`, "num_key_value_heads = 0 must be positive"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":"8"}`, "num_attention_heads must be an integer, got a string"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8.5}`, "num_attention_heads = 8.5 is not an integer"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"rms_norm_eps":0}`, "epsilon = 0 must be positive"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"rope_theta":-1}`, "rope_theta = -1"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"bos_token_id":"x"}`, "bos_token_id must be an integer"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"eos_token_id":600}`, "must be below vocab_size = 512"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"rope_scaling":3}`, "rope_scaling must be an object"},
		{`{"model_type":"mixtral",` + base + `,"num_attention_heads":8,"num_local_experts":4,"num_experts_per_tok":5}`, "num_experts_per_tok = 5 must be in [1, num_local_experts = 4]"},
		{`{"model_type":"gpt_neox",` + base + `,"num_attention_heads":8,"rotary_pct":1.5}`, "rotary_pct = 1.5 must be in (0, 1]"},
		{`{"model_type":"gpt2","n_embd":64,"n_layer":2,"n_head":4}`, "vocab_size is missing"},
		{`{"model_type":"llama",` + base + `,"num_attention_heads":8,"max_position_embeddings":1e30}`, "max_position_embeddings"},
	}
	for _, tc := range cases {
		_, err := ParseHFConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n  err = %v\n  want it to contain %q", tc.json, err, tc.want)
		}
	}
}

func FuzzParseHFConfig(f *testing.F) {
	ents, _ := os.ReadDir(filepath.Join("testdata", "configs"))
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("testdata", "configs", e.Name())); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model_type":"gpt2","n_embd":8,"n_layer":1,"n_head":2,"vocab_size":10}`))
	f.Add([]byte(`{"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,"num_attention_heads":8,"vocab_size":512,"eos_token_id":[]}`))
	f.Add([]byte(`{"architectures":["GPTNeoXForCausalLM"],"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4,"rotary_pct":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHFConfig(b)
		if err != nil {
			return
		}
		// Whatever is accepted must be internally consistent.
		if c.Dim <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.Vocab <= 0 {
			t.Fatalf("accepted non-positive dims: %+v", c)
		}
		if c.Heads%c.KVHeads != 0 || c.BOS >= c.Vocab || c.EOS >= c.Vocab || !(c.NormEps > 0) {
			t.Fatalf("accepted inconsistent config: %+v", c)
		}
	})
}
