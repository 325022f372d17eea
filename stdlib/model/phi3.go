package model

// Phi-3: Hugging Face Phi3ForCausalLM. It is the Llama decoder (llama.go)
// with two fused projections, which stay fused as parameters (the scoring
// universe reports indices in qkv_proj and gate_up_proj):
//
//	qkv_proj     [(heads + 2·kvHeads)·headDim, D]  rows: q, then k, then v
//	gate_up_proj [2·F, D]                          rows: gate, then up
//
// Each part is a contiguous block of rows, so the layer binds row views that
// alias the fused tensor (an in-place change of the fused weight is what the
// views compute with; Invalidate reaches them) and each part's gradient is
// its block of the fused gradient. The causal mask honours sliding_window
// (Phi-3-mini-4k: 2047) as Mistral's does. rope_scaling must be null (the 4k
// models); the 128k models' longrope ("su") is refused by name.
var phi3Family = family{
	embed: "model.embed_tokens.weight", norm: "model.norm", head: "lm_head.weight",
	layer: "model.layers.%d.",
	check: func(c Config, bad func(string, ...any)) {
		checkLlama(c, bad)
		if c.RopeScaling != nil {
			typ, _ := c.RopeScaling["rope_type"].(string)
			if typ == "" {
				typ, _ = c.RopeScaling["type"].(string)
			}
			bad("rope_scaling type %q is not supported (the 128k models' longrope/su); only rope_scaling null (the 4k models) is", typ)
		}
	},
	bind: func(m *Model, p string) layer {
		c := m.Config
		qd, kvd, F := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.Hidden
		qkv, gu := p+"self_attn.qkv_proj", p+"mlp.gate_up_proj"
		return layer{
			norm1: m.norm(p + "input_layernorm"), norm2: m.norm(p + "post_attention_layernorm"),
			q: m.rows(qkv, 0, qd), k: m.rows(qkv, qd, qd+kvd), v: m.rows(qkv, qd+kvd, qd+2*kvd),
			o:    m.linear(p + "self_attn.o_proj"),
			gate: m.rows(gu, 0, F), up: m.rows(gu, F, 2*F),
			down: m.linear(p + "mlp.down_proj"),
		}
	},
	forward:  (*Model).llamaForward,
	backward: (*Model).llamaBackward,
}
