package model

// Llama and Mistral: Hugging Face LlamaForCausalLM and MistralForCausalLM
// (also Llama-3.x with rope_scaling "llama3", and llama2.c checkpoints with
// interleaved RoPE). Per layer, with x the residual stream:
//
//	h = x + o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))),  n = RMSNorm(x)
//	x' = h + down_proj(silu(gate_proj(m)) ⊙ up_proj(m)),                      m = RMSNorm(h)
//
// then model.norm and lm_head (the embedding when tied). Attention is causal
// with grouped-query heads; Mistral's sliding_window limits each query to
// the last sliding_window keys (0: no limit). attention_bias and mlp_bias
// add biases to the projections. The forward and backward are
// llama_forward.go and llama_backward.go, shared with Phi-3 and Mixtral.
var llamaFamily = family{
	embed: "model.embed_tokens.weight", norm: "model.norm", head: "lm_head.weight",
	layer: "model.layers.%d.",
	check: checkLlama,
	bind: func(m *Model, p string) layer {
		l := m.bindAttention(p)
		l.gate, l.up, l.down = m.linear(p+"mlp.gate_proj"), m.linear(p+"mlp.up_proj"), m.linear(p+"mlp.down_proj")
		return l
	},
	forward:  (*Model).llamaForward,
	backward: (*Model).llamaBackward,
}

// checkLlama holds the rules of every family on the Llama decoder.
func checkLlama(c Config, bad func(string, ...any)) {
	checkAct(c, bad, "silu")
	if rotaryDim(c) != c.HeadDim {
		bad("partial rotary (%d of head_dim = %d dims) is not supported by the %s family", rotaryDim(c), c.HeadDim, c.Architecture)
	}
}

// bindAttention binds the norms and the separate q/k/v/o projections of a
// Llama-style layer.
func (m *Model) bindAttention(p string) layer {
	return layer{
		norm1: m.norm(p + "input_layernorm"), norm2: m.norm(p + "post_attention_layernorm"),
		q: m.linear(p + "self_attn.q_proj"), k: m.linear(p + "self_attn.k_proj"),
		v: m.linear(p + "self_attn.v_proj"), o: m.linear(p + "self_attn.o_proj"),
	}
}
