package model

import (
	"fmt"
	"strings"
)

// ParamSpec is one parameter a family expects: its Hugging Face name and
// shape.
type ParamSpec struct {
	Name  string
	Shape []int
}

// spec is a ParamSpec with the config fields its shape comes from, for error
// messages that say which config value does not fit.
type spec struct {
	ParamSpec
	why string
}

// Specs lists the parameters of cfg's family in model order (the order of
// PyTorch's named_parameters for LlamaForCausalLM), tied tensors once.
func Specs(cfg Config) ([]ParamSpec, error) {
	sp, err := specs(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]ParamSpec, len(sp))
	for i, s := range sp {
		out[i] = s.ParamSpec
	}
	return out, nil
}

// supportedArchitectures are the families this package runs.
var supportedArchitectures = []string{"llama"}

func specs(cfg Config) ([]spec, error) {
	c, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	D, F, V := c.Dim, c.Hidden, c.Vocab
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	qWhy := fmt.Sprintf("num_attention_heads·head_dim = %d·%d, hidden_size = %d", c.Heads, c.HeadDim, D)
	kvWhy := fmt.Sprintf("num_key_value_heads·head_dim = %d·%d, hidden_size = %d", c.KVHeads, c.HeadDim, D)
	mlpWhy := fmt.Sprintf("intermediate_size = %d, hidden_size = %d", F, D)
	dWhy := fmt.Sprintf("hidden_size = %d", D)
	vWhy := fmt.Sprintf("vocab_size = %d, hidden_size = %d", V, D)

	out := []spec{{ParamSpec{"model.embed_tokens.weight", []int{V, D}}, vWhy}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		out = append(out,
			spec{ParamSpec{p + "self_attn.q_proj.weight", []int{qd, D}}, qWhy},
			spec{ParamSpec{p + "self_attn.k_proj.weight", []int{kvd, D}}, kvWhy},
			spec{ParamSpec{p + "self_attn.v_proj.weight", []int{kvd, D}}, kvWhy},
			spec{ParamSpec{p + "self_attn.o_proj.weight", []int{D, qd}}, qWhy},
			spec{ParamSpec{p + "mlp.gate_proj.weight", []int{F, D}}, mlpWhy},
			spec{ParamSpec{p + "mlp.up_proj.weight", []int{F, D}}, mlpWhy},
			spec{ParamSpec{p + "mlp.down_proj.weight", []int{D, F}}, mlpWhy},
			spec{ParamSpec{p + "input_layernorm.weight", []int{D}}, dWhy},
			spec{ParamSpec{p + "post_attention_layernorm.weight", []int{D}}, dWhy},
		)
	}
	out = append(out, spec{ParamSpec{"model.norm.weight", []int{D}}, dWhy})
	if !c.TiedEmbeds {
		out = append(out, spec{ParamSpec{"lm_head.weight", []int{V, D}}, vWhy + ", tie_word_embeddings = false"})
	}
	return out, nil
}

// normalize checks that cfg describes a model this package can run and fills
// the fields that have a family default (HeadDim, KVHeads).
func normalize(cfg Config) (Config, error) {
	c := cfg
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	arch := strings.ToLower(c.Architecture)
	if arch != "llama" {
		return c, fmt.Errorf("model: architecture %q is not supported (supported: %s)",
			c.Architecture, strings.Join(supportedArchitectures, ", "))
	}
	c.Architecture = arch
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", c.Dim}, {"intermediate_size", c.Hidden}, {"num_hidden_layers", c.Layers},
		{"num_attention_heads", c.Heads}, {"vocab_size", c.Vocab}} {
		if f.v <= 0 {
			bad("%s = %d must be positive", f.name, f.v)
		}
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		if c.Dim%c.Heads != 0 {
			bad("hidden_size = %d is not a multiple of num_attention_heads = %d (set head_dim)", c.Dim, c.Heads)
		} else {
			c.HeadDim = c.Dim / c.Heads
		}
	}
	switch {
	case c.KVHeads < 0:
		bad("num_key_value_heads = %d must be positive", c.KVHeads)
	case c.Heads > 0 && c.Heads%c.KVHeads != 0:
		bad("num_attention_heads = %d is not a multiple of num_key_value_heads = %d", c.Heads, c.KVHeads)
	}
	if c.HeadDim < 0 || c.HeadDim%2 != 0 {
		bad("head_dim = %d must be positive and even (RoPE rotates pairs)", c.HeadDim)
	}
	if c.RotaryDim != 0 && c.RotaryDim != c.HeadDim {
		bad("partial rotary (rotary dim %d of head_dim %d) is not part of the llama family", c.RotaryDim, c.HeadDim)
	}
	if !(c.NormEps > 0) {
		bad("rms_norm_eps = %g must be positive", c.NormEps)
	}
	if !(c.RopeTheta > 0) {
		bad("rope_theta = %g must be positive", c.RopeTheta)
	}
	if c.MaxSeqLen < 0 {
		bad("max_position_embeddings = %d must not be negative", c.MaxSeqLen)
	}
	if act := strings.ToLower(c.HiddenAct); act != "" && act != "silu" {
		bad("hidden_act %q is not supported by the llama family (valid: silu)", c.HiddenAct)
	}
	if c.AttentionBias {
		bad("attention_bias = true is not supported yet")
	}
	if c.MLPBias {
		bad("mlp_bias = true is not supported yet")
	}
	if c.NumExperts > 0 {
		bad("num_local_experts = %d: mixture of experts is not part of the llama family", c.NumExperts)
	}
	if len(errs) == 0 {
		if _, err := invFreq(c); err != nil {
			bad("%v", err)
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("model: config does not describe a runnable llama model: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
