package model

import (
	"fmt"
	"slices"
	"strings"
)

// ParamSpec is one parameter a family expects: its Hugging Face name and
// shape.
type ParamSpec struct {
	Name  string
	Shape []int
}

// Specs lists the parameters of cfg in model order (ParamSpecs) after
// checking that this package can run cfg: it is ParamSpecs for the configs
// New accepts.
func Specs(cfg Config) ([]ParamSpec, error) {
	c, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	return ParamSpecs(c)
}

// Runnable lists the architectures New runs.
func Runnable() []string {
	out := make([]string, 0, len(families))
	for a := range families {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// normalize checks that cfg describes a model this package can run and fills
// the fields that have a family default (HeadDim, KVHeads). Rules common to
// every family are here; each family's own are in its check.
func normalize(cfg Config) (Config, error) {
	c := cfg
	c.Architecture = strings.ToLower(c.Architecture)
	fam, ok := families[c.Architecture]
	if !ok {
		return c, fmt.Errorf("model: architecture %q is not supported (supported: %s)",
			cfg.Architecture, strings.Join(Runnable(), ", "))
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
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
	if rot := rotaryDim(c); c.HeadDim < 0 || rot <= 0 || rot > c.HeadDim || rot%2 != 0 {
		bad("rotary dims = %d of head_dim = %d must be positive and even (RoPE rotates pairs)", rot, c.HeadDim)
	}
	if c.RopeInterleaved && rotaryDim(c) != c.HeadDim {
		bad("interleaved RoPE with partial rotary (%d of %d dims) is not supported", rotaryDim(c), c.HeadDim)
	}
	if !(c.NormEps > 0) {
		eps := "rms_norm_eps"
		if c.Architecture == "gpt_neox" {
			eps = "layer_norm_eps"
		}
		bad("%s = %g must be positive", eps, c.NormEps)
	}
	if !(c.RopeTheta > 0) {
		bad("rope_theta = %g must be positive", c.RopeTheta)
	}
	if c.MaxSeqLen < 0 {
		bad("max_position_embeddings = %d must not be negative", c.MaxSeqLen)
	}
	if c.SlidingWindow < 0 {
		bad("sliding_window = %d must not be negative", c.SlidingWindow)
	}
	if c.NumExperts > 0 && c.Architecture != "mixtral" {
		bad("num_local_experts = %d: mixture of experts is the mixtral family", c.NumExperts)
	}
	fam.check(c, bad)
	if len(errs) == 0 {
		if _, err := invFreq(c); err != nil {
			bad("%v", err)
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("model: config does not describe a runnable %s model: %s", c.Architecture, strings.Join(errs, "; "))
	}
	return c, nil
}

// rotaryDim is how many dims of each head RoPE rotates.
func rotaryDim(c Config) int {
	if c.RotaryDim > 0 {
		return c.RotaryDim
	}
	return c.HeadDim
}

// checkAct requires one hidden_act (empty means the family default).
func checkAct(c Config, bad func(string, ...any), want string) {
	if act := strings.ToLower(c.HiddenAct); act != "" && act != want {
		bad("hidden_act %q is not supported by the %s family (valid: %s)", c.HiddenAct, c.Architecture, want)
	}
}
