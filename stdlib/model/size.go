package model

import (
	"esa/stdlib/backend"
	"fmt"
	"sort"
	"strings"

	"esa/stdlib/tensor"
)

// specLen is the number of elements of a parameter.
func specLen(p ParamSpec) int64 {
	n := int64(1)
	for _, d := range p.Shape {
		n *= int64(d)
	}
	return n
}

// specScored reports whether the tensor belongs to the scored universe of the
// ESA spec: every parameter of rank ≥ 2 (norm gains and biases excluded).
func specScored(p ParamSpec) bool { return len(p.Shape) >= 2 }

// ParamSpecs lists the parameters a checkpoint of this Config holds, for every
// family ParseHFConfig knows, in PyTorch's named_parameters order, with their
// HF names and shapes. A tied head is not listed: it is the embedding matrix,
// counted once. Buffers some checkpoints also store (GPT-NeoX attention.bias / masked_bias,
// rotary_emb.inv_freq) are not parameters and are not listed.
//
// It works from the config alone, so `esa info --config` and the memory
// estimator need no weights, and it does not ask whether the engine can run
// the model (Specs does that for the families it runs).
func ParamSpecs(cfg Config) ([]ParamSpec, error) {
	if err := checkDims(cfg); err != nil {
		return nil, err
	}
	switch cfg.Architecture {
	case "llama", "mistral":
		return llamaSpecs(cfg), nil
	case "phi3":
		return phi3Specs(cfg), nil
	case "mixtral":
		if cfg.NumExperts <= 0 {
			return nil, fmt.Errorf("model: mixtral config needs num_local_experts > 0 (got %d)", cfg.NumExperts)
		}
		return mixtralSpecs(cfg), nil
	case "gpt_neox":
		return neoxSpecs(cfg), nil
	case "gpt2":
		if cfg.MaxSeqLen <= 0 {
			return nil, fmt.Errorf("model: gpt2 config needs n_positions > 0 (got %d)", cfg.MaxSeqLen)
		}
		return gpt2Specs(cfg), nil
	}
	return nil, fmt.Errorf("model: unknown architecture %q (valid: %s)", cfg.Architecture, strings.Join(Architectures(), ", "))
}

// Architectures lists the Config.Architecture values ParamSpecs knows.
func Architectures() []string {
	a := []string{"llama", "mistral", "phi3", "mixtral", "gpt_neox", "gpt2"}
	sort.Strings(a)
	return a
}

// ParamCount is the number of parameters (elements), tied tensors once.
func ParamCount(cfg Config) (int64, error) {
	specs, err := ParamSpecs(cfg)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range specs {
		n += specLen(s)
	}
	return n, nil
}

// ScoredCount is the size of the scored universe: elements of the tensors of
// rank ≥ 2, tied tensors once.
func ScoredCount(cfg Config) (int64, error) {
	specs, err := ParamSpecs(cfg)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range specs {
		if specScored(s) {
			n += specLen(s)
		}
	}
	return n, nil
}

func checkDims(cfg Config) error {
	bad := func(name string, v int) error {
		return fmt.Errorf("model: config %s must be > 0 (got %d)", name, v)
	}
	switch {
	case cfg.Dim <= 0:
		return bad("hidden_size", cfg.Dim)
	case cfg.Layers <= 0:
		return bad("num_hidden_layers", cfg.Layers)
	case cfg.Heads <= 0:
		return bad("num_attention_heads", cfg.Heads)
	case cfg.Vocab <= 0:
		return bad("vocab_size", cfg.Vocab)
	case cfg.Hidden <= 0:
		return bad("intermediate_size", cfg.Hidden)
	case cfg.KVHeads < 0 || cfg.HeadDim < 0:
		return fmt.Errorf("model: config num_key_value_heads (%d) and head_dim (%d) must not be negative", cfg.KVHeads, cfg.HeadDim)
	}
	if kv := kvHeads(cfg); cfg.Heads%kv != 0 {
		return fmt.Errorf("model: num_attention_heads %d is not a multiple of num_key_value_heads %d", cfg.Heads, kv)
	}
	if cfg.HeadDim == 0 && cfg.Dim%cfg.Heads != 0 {
		return fmt.Errorf("model: hidden_size %d is not a multiple of num_attention_heads %d (and no head_dim given)", cfg.Dim, cfg.Heads)
	}
	return nil
}

func headDim(cfg Config) int {
	if cfg.HeadDim > 0 {
		return cfg.HeadDim
	}
	return cfg.Dim / cfg.Heads
}

func kvHeads(cfg Config) int {
	if cfg.KVHeads > 0 {
		return cfg.KVHeads
	}
	return cfg.Heads
}

// specList appends parameters with a common prefix.
type specList []ParamSpec

func (l *specList) add(name string, shape ...int) { *l = append(*l, ParamSpec{name, shape}) }

// linear adds name.weight [out, in] and, if bias, name.bias [out].
func (l *specList) linear(name string, out, in int, bias bool) {
	l.add(name+".weight", out, in)
	if bias {
		l.add(name+".bias", out)
	}
}

// head adds lm_head.weight unless the embeddings are tied.
func (l *specList) head(cfg Config) {
	if !cfg.TiedEmbeds {
		l.add("lm_head.weight", cfg.Vocab, cfg.Dim)
	}
}

// norms adds the two RMSNorm gains of a Llama-style decoder layer, which the
// layer registers after its attention and MLP.
func (l *specList) norms(p string, dim int) {
	l.add(p+"input_layernorm.weight", dim)
	l.add(p+"post_attention_layernorm.weight", dim)
}

// attention adds the separate q/k/v/o projections of the Llama-style families.
func (l *specList) attention(cfg Config, p string) {
	hd, kv := headDim(cfg), kvHeads(cfg)
	l.linear(p+"self_attn.q_proj", cfg.Heads*hd, cfg.Dim, cfg.AttentionBias)
	l.linear(p+"self_attn.k_proj", kv*hd, cfg.Dim, cfg.AttentionBias)
	l.linear(p+"self_attn.v_proj", kv*hd, cfg.Dim, cfg.AttentionBias)
	l.linear(p+"self_attn.o_proj", cfg.Dim, cfg.Heads*hd, cfg.AttentionBias)
}

// modeling_llama.py / modeling_mistral.py.
func llamaSpecs(cfg Config) []ParamSpec {
	var l specList
	l.add("model.embed_tokens.weight", cfg.Vocab, cfg.Dim)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l.attention(cfg, p)
		l.linear(p+"mlp.gate_proj", cfg.Hidden, cfg.Dim, cfg.MLPBias)
		l.linear(p+"mlp.up_proj", cfg.Hidden, cfg.Dim, cfg.MLPBias)
		l.linear(p+"mlp.down_proj", cfg.Dim, cfg.Hidden, cfg.MLPBias)
		l.norms(p, cfg.Dim)
	}
	l.add("model.norm.weight", cfg.Dim)
	l.head(cfg)
	return l
}

// modeling_phi3.py: fused qkv_proj rows are [q; k; v], gate_up_proj rows [gate; up]; no biases.
func phi3Specs(cfg Config) []ParamSpec {
	hd, kv := headDim(cfg), kvHeads(cfg)
	var l specList
	l.add("model.embed_tokens.weight", cfg.Vocab, cfg.Dim)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		// Phi3Attention registers o_proj before qkv_proj.
		l.add(p+"self_attn.o_proj.weight", cfg.Dim, cfg.Heads*hd)
		l.add(p+"self_attn.qkv_proj.weight", (cfg.Heads+2*kv)*hd, cfg.Dim)
		l.add(p+"mlp.gate_up_proj.weight", 2*cfg.Hidden, cfg.Dim)
		l.add(p+"mlp.down_proj.weight", cfg.Dim, cfg.Hidden)
		l.norms(p, cfg.Dim)
	}
	l.add("model.norm.weight", cfg.Dim)
	l.head(cfg)
	return l
}

// modeling_mixtral.py: router block_sparse_moe.gate [E, D]; expert N has w1 (gate)
// [F, D], w2 (down) [D, F], w3 (up) [F, D].
func mixtralSpecs(cfg Config) []ParamSpec {
	var l specList
	l.add("model.embed_tokens.weight", cfg.Vocab, cfg.Dim)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l.attention(cfg, p)
		l.add(p+"block_sparse_moe.gate.weight", cfg.NumExperts, cfg.Dim)
		for e := 0; e < cfg.NumExperts; e++ {
			x := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			l.add(x+"w1.weight", cfg.Hidden, cfg.Dim)
			l.add(x+"w2.weight", cfg.Dim, cfg.Hidden)
			l.add(x+"w3.weight", cfg.Hidden, cfg.Dim)
		}
		l.norms(p, cfg.Dim)
	}
	l.add("model.norm.weight", cfg.Dim)
	l.head(cfg)
	return l
}

// modeling_gpt_neox.py: LayerNorms with bias, fused query_key_value [3D, D]
// (per-head interleaved), MLP always with bias, untied embed_out.
func neoxSpecs(cfg Config) []ParamSpec {
	D := cfg.Dim
	var l specList
	l.add("gpt_neox.embed_in.weight", cfg.Vocab, D)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("gpt_neox.layers.%d.", i)
		l.add(p+"input_layernorm.weight", D)
		l.add(p+"input_layernorm.bias", D)
		l.add(p+"post_attention_layernorm.weight", D)
		l.add(p+"post_attention_layernorm.bias", D)
		l.linear(p+"attention.query_key_value", 3*D, D, cfg.AttentionBias)
		l.linear(p+"attention.dense", D, D, cfg.AttentionBias)
		l.linear(p+"mlp.dense_h_to_4h", cfg.Hidden, D, true)
		l.linear(p+"mlp.dense_4h_to_h", D, cfg.Hidden, true)
	}
	l.add("gpt_neox.final_layer_norm.weight", D)
	l.add("gpt_neox.final_layer_norm.bias", D)
	if cfg.TiedEmbeds {
		return l
	}
	l.add("embed_out.weight", cfg.Vocab, D)
	return l
}

// modeling_gpt2.py: Conv1D weights stored [in, out]; learned positions; tied head.
func gpt2Specs(cfg Config) []ParamSpec {
	D := cfg.Dim
	var l specList
	l.add("transformer.wte.weight", cfg.Vocab, D)
	l.add("transformer.wpe.weight", cfg.MaxSeqLen, D)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("transformer.h.%d.", i)
		l.add(p+"ln_1.weight", D)
		l.add(p+"ln_1.bias", D)
		l.add(p+"attn.c_attn.weight", D, 3*D)
		l.add(p+"attn.c_attn.bias", 3*D)
		l.add(p+"attn.c_proj.weight", D, D)
		l.add(p+"attn.c_proj.bias", D)
		l.add(p+"ln_2.weight", D)
		l.add(p+"ln_2.bias", D)
		l.add(p+"mlp.c_fc.weight", D, cfg.Hidden)
		l.add(p+"mlp.c_fc.bias", cfg.Hidden)
		l.add(p+"mlp.c_proj.weight", cfg.Hidden, D)
		l.add(p+"mlp.c_proj.bias", D)
	}
	l.add("transformer.ln_f.weight", D)
	l.add("transformer.ln_f.bias", D)
	if !cfg.TiedEmbeds {
		l.add("lm_head.weight", cfg.Vocab, D)
	}
	return l
}

// MemoryEstimate is the predicted peak memory, in bytes, of running a model.
type MemoryEstimate struct {
	// Weights is the parameters in their stored dtype (what loading costs).
	Weights int64
	// Eval is Weights plus what one forward pass over batch×seqLen tokens
	// needs at its peak: the float32 activations of one layer (activations
	// are not kept across layers when no backward follows), the float32
	// logits, and a float32 copy of the largest weight tensor when the stored
	// dtype is not float32 (weights are widened for the matmul).
	Eval int64
	// GradPass is Weights plus a forward+backward pass: float32 activations
	// saved for every layer, float32 logits and their gradient, one layer's
	// transient backward buffers, the widened copy of the largest tensor as in
	// Eval, and a float32 gradient for every parameter (the ESA metrics
	// accumulate per-weight gradients).
	GradPass int64
}

// EstimateMemory predicts memory from the config alone. It counts the tensors
// the engine allocates, not allocator slack, Go runtime overhead or the
// tokenizer; treat it as a lower bound to refuse early ("needs ≈N GB for
// weights alone"), not as an exact figure.
func EstimateMemory(cfg Config, dtype tensor.DType, seqLen, batch int) (MemoryEstimate, error) {
	return EstimateMemoryOn(nil, cfg, dtype, seqLen, batch)
}

// EstimateMemoryOn is EstimateMemory for passes on backend be, counting what
// be's Attention saves for the backward (backend.AttentionSavedLen): the
// CPU's probabilities, O(T²) per layer, or a flash-attention backend's
// O(T). A nil be is the CPU.
func EstimateMemoryOn(be backend.Backend, cfg Config, dtype tensor.DType, seqLen, batch int) (MemoryEstimate, error) {
	specs, err := ParamSpecs(cfg)
	if err != nil {
		return MemoryEstimate{}, err
	}
	if dtype.Size() == 0 {
		return MemoryEstimate{}, fmt.Errorf("model: EstimateMemory: unknown dtype %v", dtype)
	}
	if seqLen <= 0 || batch <= 0 {
		return MemoryEstimate{}, fmt.Errorf("model: EstimateMemory: sequence length (%d) and batch (%d) must be > 0", seqLen, batch)
	}
	var params, largest int64
	for _, s := range specs {
		params += specLen(s)
		largest = max(largest, specLen(s))
	}
	const f32 = 4
	tokens := int64(seqLen) * int64(batch)
	weights := params * int64(dtype.Size())
	widened := int64(0)
	if dtype != tensor.F32 {
		widened = largest * f32
	}
	// Per token: what one layer's attention saves for a sequence of seqLen.
	saved := int64(backend.AttentionSavedLen(be, cfg.Heads, seqLen, seqLen))
	layerSaved, layerTransient := activationFloats(cfg, (saved+int64(seqLen)-1)/int64(seqLen))
	logits := tokens * int64(cfg.Vocab) * f32

	eval := weights + widened + logits + tokens*layerTransient*f32
	grad := weights + widened + 2*logits +
		tokens*(int64(cfg.Layers)*layerSaved+layerTransient)*f32 +
		params*f32
	return MemoryEstimate{Weights: weights, Eval: eval, GradPass: grad}, nil
}

// activationFloats returns, per token, the float32 values one layer saves for
// the backward pass and the values one layer needs transiently (its working
// buffers; during backward also the gradients of the saved values). probs is
// what attention saves per token: the probabilities, heads × seqLen, which
// dominate at long context, or heads on a flash-attention backend.
func activationFloats(cfg Config, probs int64) (saved, transient int64) {
	D := int64(cfg.Dim)
	F := int64(cfg.Hidden)
	hd := int64(headDim(cfg))
	H := int64(cfg.Heads)
	KV := int64(kvHeads(cfg))
	q, kv := H*hd, 2*KV*hd
	// Full rows even with a sliding window: the window masks, it does not shrink the rows.
	// Residual input, normed input and its 1/rms for each of the two norms,
	// q, k, v after RoPE, attention probabilities and output.
	attn := 2*(2*D+1) + q + kv + probs + q
	var mlp int64
	switch cfg.Architecture {
	case "mixtral":
		k := int64(max(cfg.ExpertsPerToken, 1))
		// Router logits, and per selected expert gate, up and their product.
		mlp = int64(cfg.NumExperts) + k*3*F
	case "gpt_neox", "gpt2":
		// Pre- and post-GELU hidden; LayerNorm also keeps the mean.
		mlp = 2*F + 2
	default:
		// SwiGLU: gate, up and silu(gate)·up.
		mlp = 3 * F
	}
	saved = attn + mlp
	// One layer's forward working set, or its backward gradients of the same
	// values, plus the residual stream and its gradient.
	transient = saved + 2*D
	return saved, transient
}

// CheckMemory returns nil when running cfg in dtype over batch×seqLen tokens
// (a gradient pass when grad, else evaluation) fits in available bytes, and
// otherwise an error saying what is needed, e.g. "Mixtral-8x7B-v0.1 in BF16
// needs ≈93.4 GB for weights alone; this device has 80.0 GB". name is how
// the model is called in the message.
func CheckMemory(name string, cfg Config, dtype tensor.DType, seqLen, batch int, grad bool, available int64) error {
	return CheckMemoryOn(nil, name, cfg, dtype, seqLen, batch, grad, available)
}

// CheckMemoryOn is CheckMemory for passes on backend be (EstimateMemoryOn).
func CheckMemoryOn(be backend.Backend, name string, cfg Config, dtype tensor.DType, seqLen, batch int, grad bool, available int64) error {
	m, err := EstimateMemoryOn(be, cfg, dtype, seqLen, batch)
	if err != nil {
		return err
	}
	if m.Weights > available {
		return fmt.Errorf("%s in %s needs ≈%s for weights alone; this device has %s", name, dtype, gb(m.Weights), gb(available))
	}
	need, what := m.Eval, "evaluation"
	if grad {
		need, what = m.GradPass, "a gradient pass"
	}
	if need > available {
		return fmt.Errorf("%s in %s needs ≈%s for %s over %d×%d tokens (weights %s, activations and gradients %s); this device has %s",
			name, dtype, gb(need), what, batch, seqLen, gb(m.Weights), gb(need-m.Weights), gb(available))
	}
	return nil
}

// gb formats bytes in decimal gigabytes.
func gb(n int64) string { return fmt.Sprintf("%.1f GB", float64(n)/1e9) }
