package model

import (
	"fmt"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// Phi-3: Hugging Face Phi3ForCausalLM, forward and backward. It is the Llama
// decoder with two fused projections, which stay fused as parameters (the
// scoring universe reports indices in qkv_proj and gate_up_proj):
//
//	qkv_proj     [(heads + 2·kvHeads)·headDim, D]  rows: q, then k, then v
//	gate_up_proj [2·F, D]                          rows: gate, then up
//
// Each part is a contiguous block of rows, so the matmuls run on row views
// that alias the fused tensor (an in-place change of the fused weight is what
// the views compute with) and their gradients are slices of the fused
// gradient. The causal mask honours sliding_window (Phi-3-mini-4k: 2047) as
// HF's does: query i sees keys i−window+1..i. rope_scaling must be null (the
// 4k models); the 128k models' longrope ("su") is refused by name.
//
// Mistral (MistralForCausalLM) runs on the same code: its q/k/v and
// gate/up are separate tensors rather than views, and its mask honours
// sliding_window the same way (Mistral-7B-v0.1: 4096; v0.3: none).
//
// Like gpt_neox.go this is not yet reachable from New/LossAndGrad.

// part is a projection's weight: a whole parameter (Mistral) or a block of
// rows of a fused one (Phi-3), whose gradient is the same block of rows.
type part struct {
	w     *tensor.Tensor // the weight or a row view aliasing the fused tensor
	param int            // index into params of the (fused) tensor
	row0  int            // first row of the block in the parameter
}

// grad returns the part's slice of the parameter's gradient.
func (p part) grad(be backend.Backend, g []backend.Buffer) backend.Buffer {
	n := p.w.Len()
	return be.Slice(g[p.param], p.row0*p.w.Cols(), n)
}

// phi3Layer holds one layer's parameter indices and projection parts.
type phi3Layer struct {
	o, down, norm1, norm2 int
	q, k, v, gate, up     part
}

// phi3Model is a validated Phi-3 parameter set.
type phi3Model struct {
	cfg               Config
	params            []*tensor.Tensor // in ParamSpecs order
	embed, norm, head int
	layers            []phi3Layer
	inv               []float64
}

// rowView returns rows [r0, r1) of a rank-2 tensor as a tensor aliasing its bytes.
func rowView(t *tensor.Tensor, r0, r1 int) *tensor.Tensor {
	n := t.Cols() * t.DType.Size()
	return &tensor.Tensor{Name: t.Name, Shape: []int{r1 - r0, t.Cols()}, DType: t.DType, Data: t.Data[r0*n : r1*n : r1*n]}
}

// newPhi3 builds a Phi-3 or a Mistral model.
func newPhi3(cfg Config, tensors []*tensor.Tensor) (*phi3Model, error) {
	if cfg.Architecture != "phi3" && cfg.Architecture != "mistral" {
		return nil, fmt.Errorf("model: newPhi3 on a %q config (valid: phi3, mistral)", cfg.Architecture)
	}
	if cfg.HeadDim == 0 && cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	if cfg.KVHeads == 0 {
		cfg.KVHeads = cfg.Heads
	}
	if cfg.RopeScaling != nil && cfg.Architecture == "phi3" {
		typ, _ := cfg.RopeScaling["rope_type"].(string)
		if typ == "" {
			typ, _ = cfg.RopeScaling["type"].(string)
		}
		return nil, fmt.Errorf("model: phi3 rope_scaling type %q is not supported (the 128k models' longrope/su); only rope_scaling null (4k models) is", typ)
	}
	switch {
	case cfg.RotaryDim != 0 && cfg.RotaryDim != cfg.HeadDim:
		return nil, fmt.Errorf("model: phi3 partial_rotary_factor (rotary dims %d of %d) is not supported", cfg.RotaryDim, cfg.HeadDim)
	case cfg.HeadDim%2 != 0:
		return nil, fmt.Errorf("model: head_dim = %d must be even (RoPE rotates pairs)", cfg.HeadDim)
	case !(cfg.NormEps > 0):
		return nil, fmt.Errorf("model: rms_norm_eps = %g must be positive", cfg.NormEps)
	case cfg.HiddenAct != "" && cfg.HiddenAct != "silu":
		return nil, fmt.Errorf("model: %s hidden_act %q is not supported (valid: silu)", cfg.Architecture, cfg.HiddenAct)
	case cfg.AttentionBias || cfg.MLPBias:
		return nil, fmt.Errorf("model: %s with biases is not supported (it has none)", cfg.Architecture)
	}
	inv, err := invFreq(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %v", err)
	}
	params, index, err := collectParams(cfg, tensors)
	if err != nil {
		return nil, err
	}
	m := &phi3Model{cfg: cfg, params: params, inv: inv,
		embed: index["model.embed_tokens.weight"], norm: index["model.norm.weight"]}
	m.head = m.embed
	if !cfg.TiedEmbeds {
		m.head = index["lm_head.weight"]
	}
	qd, kvd, F := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.Hidden
	whole := func(name string) part { i := index[name]; return part{w: params[i], param: i} }
	block := func(name string, r0, r1 int) part {
		i := index[name]
		return part{w: rowView(params[i], r0, r1), param: i, row0: r0}
	}
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		lp := phi3Layer{
			o: index[p+"self_attn.o_proj.weight"], down: index[p+"mlp.down_proj.weight"],
			norm1: index[p+"input_layernorm.weight"], norm2: index[p+"post_attention_layernorm.weight"],
		}
		if cfg.Architecture == "phi3" {
			qkv, gu := p+"self_attn.qkv_proj.weight", p+"mlp.gate_up_proj.weight"
			lp.q, lp.k, lp.v = block(qkv, 0, qd), block(qkv, qd, qd+kvd), block(qkv, qd+kvd, qd+2*kvd)
			lp.gate, lp.up = block(gu, 0, F), block(gu, F, 2*F)
		} else {
			lp.q, lp.k, lp.v = whole(p+"self_attn.q_proj.weight"), whole(p+"self_attn.k_proj.weight"), whole(p+"self_attn.v_proj.weight")
			lp.gate, lp.up = whole(p+"mlp.gate_proj.weight"), whole(p+"mlp.up_proj.weight")
		}
		m.layers = append(m.layers, lp)
	}
	return m, nil
}

// phi3Acts are one layer's activations kept for the backward.
type phi3Acts struct {
	rstd1, xn1, q, k, v, probs, att, xmid, rstd2, xn2, gate, up, h backend.Buffer
}

// phi3WS holds a kept forward over T tokens and the backward's scratch.
type phi3WS struct {
	T                                                    int
	res                                                  []backend.Buffer
	acts                                                 []phi3Acts
	mlp, rstdf, xnf, logits                              backend.Buffer
	dres, dxn, dh, dgate, dup, datt, dq, dk, dv, dlogits backend.Buffer
}

func (m *phi3Model) newWS(be backend.Backend, T int) *phi3WS {
	c := m.cfg
	D, F, H := c.Dim, c.Hidden, c.Heads
	qd, kvd := H*c.HeadDim, c.KVHeads*c.HeadDim
	ws := &phi3WS{T: T}
	for l := 0; l <= c.Layers; l++ {
		ws.res = append(ws.res, be.Alloc(T*D))
	}
	for l := 0; l < c.Layers; l++ {
		ws.acts = append(ws.acts, phi3Acts{
			rstd1: be.Alloc(T), xn1: be.Alloc(T * D),
			q: be.Alloc(T * qd), k: be.Alloc(T * kvd), v: be.Alloc(T * kvd),
			probs: be.Alloc(H * T * T), att: be.Alloc(T * qd), xmid: be.Alloc(T * D),
			rstd2: be.Alloc(T), xn2: be.Alloc(T * D),
			gate: be.Alloc(T * F), up: be.Alloc(T * F), h: be.Alloc(T * F),
		})
	}
	ws.mlp, ws.rstdf, ws.xnf, ws.logits = be.Alloc(T*D), be.Alloc(T), be.Alloc(T*D), be.Alloc(T*c.Vocab)
	return ws
}

// attention runs causal attention, windowed when the sequence is longer than
// the sliding window.
func (m *phi3Model) attention(be backend.Backend, a *phi3Acts, T int) {
	c := m.cfg
	if w := c.SlidingWindow; w > 0 && T > w {
		windowAttention(be, a.att, a.probs, a.q, a.k, a.v, T, c.Heads, c.KVHeads, c.HeadDim, w)
		return
	}
	be.Attention(a.att, a.probs, a.q, a.k, a.v, T, T, c.Heads, c.KVHeads, c.HeadDim)
}

// forward runs the model on ids (positions 0..T-1), keeping every layer's
// activations in ws and the logits in ws.logits.
func (m *phi3Model) forward(be backend.Backend, ws *phi3WS, rope *ropeTable, ids []int) {
	c, P := m.cfg, m.params
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim

	be.Embedding(ws.res[0], P[m.embed], ids)
	for l, lp := range m.layers {
		a, x, out := &ws.acts[l], ws.res[l], ws.res[l+1]

		be.RMSNorm(a.xn1, a.rstd1, x, P[lp.norm1], T, D, c.NormEps)
		be.MatMul(a.q, a.xn1, lp.q.w, T, false)
		be.MatMul(a.k, a.xn1, lp.k.w, T, false)
		be.MatMul(a.v, a.xn1, lp.v.w, T, false)
		be.Rope(a.q, rope.cos, rope.sin, T, H, hd, 0, false, false)
		be.Rope(a.k, rope.cos, rope.sin, T, KV, hd, 0, false, false)
		m.attention(be, a, T)
		be.Copy(a.xmid, x)
		be.MatMul(a.xmid, a.att, P[lp.o], T, true)

		// Phi3MLP: down_proj(up · silu(gate)) with [gate; up] = gate_up_proj(x).
		be.RMSNorm(a.xn2, a.rstd2, a.xmid, P[lp.norm2], T, D, c.NormEps)
		be.MatMul(a.gate, a.xn2, lp.gate.w, T, false)
		be.MatMul(a.up, a.xn2, lp.up.w, T, false)
		be.SwiGLU(a.h, a.gate, a.up, T*F)
		be.MatMul(ws.mlp, a.h, P[lp.down], T, false)
		be.Copy(out, a.xmid)
		be.Add(out, ws.mlp)
	}
	be.RMSNorm(ws.xnf, ws.rstdf, ws.res[c.Layers], P[m.norm], T, D, c.NormEps)
	be.MatMul(ws.logits, ws.xnf, P[m.head], T, false)
}

// backward propagates dlogits [T, vocab] through the kept forward in ws and
// adds every parameter's gradient into g (aligned with params); the parts of
// a fused tensor write into their row blocks of its gradient.
func (m *phi3Model) backward(be backend.Backend, ws *phi3WS, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c, P := m.cfg, m.params
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	qd, kvd := H*hd, KV*hd
	if ws.dres == nil {
		ws.dres, ws.dxn = be.Alloc(T*D), be.Alloc(T*D)
		ws.dh, ws.dgate, ws.dup = be.Alloc(T*F), be.Alloc(T*F), be.Alloc(T*F)
		ws.datt, ws.dq, ws.dk, ws.dv = be.Alloc(T*qd), be.Alloc(T*qd), be.Alloc(T*kvd), be.Alloc(T*kvd)
	}
	dres, dxn := ws.dres, ws.dxn

	be.MatMulBackward(dxn, g[m.head], dlogits, ws.xnf, P[m.head], T, false)
	be.Zero(dres)
	be.RMSNormBackward(dres, g[m.norm], dxn, ws.res[c.Layers], ws.rstdf, P[m.norm], T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp, a, x := m.layers[l], &ws.acts[l], ws.res[l]

		be.MatMulBackward(ws.dh, g[lp.down], dres, a.h, P[lp.down], T, false)
		be.SwiGLUBackward(ws.dgate, ws.dup, ws.dh, a.gate, a.up, T*F)
		be.MatMulBackward(dxn, lp.gate.grad(be, g), ws.dgate, a.xn2, lp.gate.w, T, false)
		be.MatMulBackward(dxn, lp.up.grad(be, g), ws.dup, a.xn2, lp.up.w, T, true)
		be.RMSNormBackward(dres, g[lp.norm2], dxn, a.xmid, a.rstd2, P[lp.norm2], T, D)

		// Probabilities outside the window are zero, so the causal
		// AttentionBackward is exact for the windowed forward too.
		be.MatMulBackward(ws.datt, g[lp.o], dres, a.att, P[lp.o], T, false)
		be.AttentionBackward(ws.dq, ws.dk, ws.dv, ws.datt, a.q, a.k, a.v, a.probs, T, H, KV, hd)
		be.Rope(ws.dq, rope.cos, rope.sin, T, H, hd, 0, false, true)
		be.Rope(ws.dk, rope.cos, rope.sin, T, KV, hd, 0, false, true)
		be.MatMulBackward(dxn, lp.q.grad(be, g), ws.dq, a.xn1, lp.q.w, T, false)
		be.MatMulBackward(dxn, lp.k.grad(be, g), ws.dk, a.xn1, lp.k.w, T, true)
		be.MatMulBackward(dxn, lp.v.grad(be, g), ws.dv, a.xn1, lp.v.w, T, true)
		be.RMSNormBackward(dres, g[lp.norm1], dxn, x, a.rstd1, P[lp.norm1], T, D)
	}
	be.EmbeddingBackward(g[m.embed], dres, ids, D)
}

// lossAndGrad runs forward and backward on one sequence with next-token
// targets and adds d(summed NLL)/d(params) into g (aligned with params).
func (m *phi3Model) lossAndGrad(be backend.Backend, ids []int, g [][]float32) (sumNLL float64, count int, logits []float32, err error) {
	if err := checkFamilyInput(m.cfg, m.params, ids, g); err != nil {
		return 0, 0, nil, err
	}
	T := len(ids)
	rope := newRopeTable(be, m.inv, T)
	ws := m.newWS(be, T)
	m.forward(be, ws, rope, ids)
	logits = make([]float32, T*m.cfg.Vocab)
	be.Download(logits, ws.logits)
	ws.dlogits = be.Alloc(T * m.cfg.Vocab)
	sumNLL = be.CrossEntropy(ws.dlogits, ws.logits, nextTokenTargets(ids), T, m.cfg.Vocab)
	gb := make([]backend.Buffer, len(g))
	for i, v := range g {
		gb[i] = be.FromHost(v)
	}
	m.backward(be, ws, rope, ids, ws.dlogits, gb)
	for i, v := range g {
		be.Download(v, gb[i])
	}
	return sumNLL, T - 1, logits, nil
}
