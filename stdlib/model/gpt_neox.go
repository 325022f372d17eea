package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// GPT-NeoX (Pythia): Hugging Face GPTNeoXForCausalLM, forward and backward,
// written against backend.Backend plus the host ops of hostops.go.
//
// Per layer, with x the residual stream:
//
//	h1  = LayerNorm(x; input_layernorm)
//	qkv = h1·Wqkvᵀ + b           viewed [T, heads, 3·headDim]: per head q, k, v
//	q,k = RoPE on the first rotary_ndims = int(headDim·rotary_pct) dims of each head
//	a   = dense(attention(q, k, v)) + b
//	parallel:   x' = x + a + mlp(LayerNorm(x; post_attention_layernorm))
//	sequential: y = x + a;  x' = y + mlp(LayerNorm(y; post_attention_layernorm))
//	mlp(h) = dense_4h_to_h(gelu(dense_h_to_4h(h)))   (exact GELU, biases)
//
// then final_layer_norm and the untied embed_out head (no bias).
//
// This file is not yet reachable from New/LossAndGrad: the Model type runs
// the Llama family only. neoxModel.lossAndGrad is the entry point the golden
// tests use until Model dispatches on the family.

// neoxLayer holds the indices into params of one layer's tensors.
type neoxLayer struct {
	ln1W, ln1B, ln2W, ln2B     int
	qkvW, qkvB, denseW, denseB int
	upW, upB, downW, downB     int
}

// neoxModel is a validated GPT-NeoX parameter set.
type neoxModel struct {
	cfg    Config
	params []*tensor.Tensor // in ParamSpecs order
	embed  int
	lnfW   int
	lnfB   int
	head   int
	layers []neoxLayer
	rot    int       // rotary dims per head
	inv    []float64 // rotary inverse frequencies over rot dims
}

// newNeoX checks tensors against cfg (names, shapes, dtypes, byte lengths)
// and indexes them.
func newNeoX(cfg Config, tensors []*tensor.Tensor) (*neoxModel, error) {
	if cfg.Architecture != "gpt_neox" {
		return nil, fmt.Errorf("model: newNeoX on a %q config", cfg.Architecture)
	}
	if cfg.HeadDim == 0 && cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	if cfg.KVHeads == 0 {
		cfg.KVHeads = cfg.Heads
	}
	rot := cfg.RotaryDim
	switch {
	case cfg.KVHeads != cfg.Heads:
		return nil, fmt.Errorf("model: gpt_neox has no grouped-query attention (num_key_value_heads %d ≠ heads %d)", cfg.KVHeads, cfg.Heads)
	case rot <= 0 || rot > cfg.HeadDim || rot%2 != 0:
		return nil, fmt.Errorf("model: gpt_neox rotary dims %d (head_dim·rotary_pct) must be even and in (0, %d]", rot, cfg.HeadDim)
	case !(cfg.NormEps > 0):
		return nil, fmt.Errorf("model: gpt_neox layer_norm_eps = %g must be positive", cfg.NormEps)
	case !(cfg.RopeTheta > 0):
		return nil, fmt.Errorf("model: gpt_neox rotary_emb_base = %g must be positive", cfg.RopeTheta)
	case cfg.RopeScaling != nil:
		return nil, errors.New("model: gpt_neox rope_scaling is not supported (Pythia has none)")
	case cfg.HiddenAct != "" && cfg.HiddenAct != "gelu":
		return nil, fmt.Errorf("model: gpt_neox hidden_act %q is not supported (valid: gelu)", cfg.HiddenAct)
	case !cfg.AttentionBias:
		return nil, errors.New("model: gpt_neox attention_bias = false is not supported (Pythia has biases)")
	case cfg.TiedEmbeds:
		return nil, errors.New("model: gpt_neox with tie_word_embeddings = true is not supported (Pythia unties embed_out)")
	}
	params, index, err := collectParams(cfg, tensors)
	if err != nil {
		return nil, err
	}
	n := &neoxModel{cfg: cfg, params: params, rot: rot,
		embed: index["gpt_neox.embed_in.weight"], head: index["embed_out.weight"],
		lnfW: index["gpt_neox.final_layer_norm.weight"], lnfB: index["gpt_neox.final_layer_norm.bias"]}
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("gpt_neox.layers.%d.", l)
		n.layers = append(n.layers, neoxLayer{
			ln1W: index[p+"input_layernorm.weight"], ln1B: index[p+"input_layernorm.bias"],
			ln2W: index[p+"post_attention_layernorm.weight"], ln2B: index[p+"post_attention_layernorm.bias"],
			qkvW: index[p+"attention.query_key_value.weight"], qkvB: index[p+"attention.query_key_value.bias"],
			denseW: index[p+"attention.dense.weight"], denseB: index[p+"attention.dense.bias"],
			upW: index[p+"mlp.dense_h_to_4h.weight"], upB: index[p+"mlp.dense_h_to_4h.bias"],
			downW: index[p+"mlp.dense_4h_to_h.weight"], downB: index[p+"mlp.dense_4h_to_h.bias"],
		})
	}
	// GPTNeoXRotaryEmbedding: base^(−2i/rot) over the rotated dims only.
	n.inv = make([]float64, rot/2)
	for i := range n.inv {
		n.inv[i] = 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(rot))
	}
	return n, nil
}

// collectParams orders tensors as ParamSpecs(cfg) lists them and reports
// every missing, unexpected, misshapen or truncated tensor by name.
func collectParams(cfg Config, tensors []*tensor.Tensor) ([]*tensor.Tensor, map[string]int, error) {
	specs, err := ParamSpecs(cfg)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]*tensor.Tensor, len(tensors))
	var errs []string
	for i, t := range tensors {
		if t == nil {
			errs = append(errs, fmt.Sprintf("tensor #%d is nil", i))
			continue
		}
		if _, dup := byName[t.Name]; dup {
			errs = append(errs, fmt.Sprintf("tensor %q appears twice", t.Name))
		}
		byName[t.Name] = t
	}
	params := make([]*tensor.Tensor, 0, len(specs))
	index := make(map[string]int, len(specs))
	for _, s := range specs {
		t := byName[s.Name]
		delete(byName, s.Name)
		switch {
		case t == nil:
			errs = append(errs, fmt.Sprintf("missing tensor %q (expected shape %v)", s.Name, s.Shape))
			continue
		case !slices.Equal(t.Shape, s.Shape):
			errs = append(errs, fmt.Sprintf("tensor %q has shape %v, config expects %v", s.Name, t.Shape, s.Shape))
			continue
		case t.DType.Size() == 0:
			errs = append(errs, fmt.Sprintf("tensor %q has dtype %s (valid: F32, BF16, F16, F64)", s.Name, t.DType))
			continue
		case len(t.Data) != t.Len()*t.DType.Size():
			errs = append(errs, fmt.Sprintf("tensor %q holds %d bytes, %s %v needs %d", s.Name, len(t.Data), t.DType, t.Shape, t.Len()*t.DType.Size()))
			continue
		}
		index[s.Name] = len(params)
		params = append(params, t)
	}
	extra := make([]string, 0, len(byName))
	for name := range byName {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		errs = append(errs, fmt.Sprintf("unexpected tensor %q (not part of a %d-layer %s model)", name, cfg.Layers, cfg.Architecture))
	}
	if len(errs) > 0 {
		return nil, nil, errors.New("model: " + strings.Join(errs, "; "))
	}
	return params, index, nil
}

// neoxActs are one layer's activations kept for the backward.
type neoxActs struct {
	mean1, rstd1, h1 backend.Buffer // input_layernorm stats and output
	qkv              backend.Buffer // fused projection output [T, 3D]
	q, k, v          backend.Buffer // split heads, q and k after RoPE
	probs            backend.Buffer // attention probabilities [H, T, T]
	att              backend.Buffer // attention output = dense input
	y                backend.Buffer // x + attention (sequential residual only)
	mean2, rstd2, h2 backend.Buffer // post_attention_layernorm
	u, a             backend.Buffer // dense_h_to_4h output, gelu(u)
}

// neoxWS holds a kept forward over T tokens and the backward's scratch.
type neoxWS struct {
	T                 int
	res               []backend.Buffer // residual stream entering each layer, and after the last
	acts              []neoxActs
	attnOut, mlpOut   backend.Buffer
	part              backend.Buffer // partial-rotary gather [T, H·rot]
	meanf, rstdf, xnf backend.Buffer
	logits            backend.Buffer
	// backward scratch
	dres, dy, dh1, dh2, dqkv, dq, dk, dv, datt, du, da, dlogits backend.Buffer
}

func (n *neoxModel) newWS(be backend.Backend, T int) *neoxWS {
	c := n.cfg
	D, F, H := c.Dim, c.Hidden, c.Heads
	ws := &neoxWS{T: T}
	for l := 0; l <= c.Layers; l++ {
		ws.res = append(ws.res, be.Alloc(T*D))
	}
	for l := 0; l < c.Layers; l++ {
		a := neoxActs{
			mean1: be.Alloc(T), rstd1: be.Alloc(T), h1: be.Alloc(T * D),
			qkv: be.Alloc(3 * T * D), q: be.Alloc(T * D), k: be.Alloc(T * D), v: be.Alloc(T * D),
			probs: be.Alloc(H * T * T), att: be.Alloc(T * D),
			mean2: be.Alloc(T), rstd2: be.Alloc(T), h2: be.Alloc(T * D),
			u: be.Alloc(T * F), a: be.Alloc(T * F),
		}
		if !c.ParallelResidual {
			a.y = be.Alloc(T * D)
		}
		ws.acts = append(ws.acts, a)
	}
	ws.attnOut, ws.mlpOut = be.Alloc(T*D), be.Alloc(T*D)
	ws.part = be.Alloc(T * H * n.rot)
	ws.meanf, ws.rstdf, ws.xnf = be.Alloc(T), be.Alloc(T), be.Alloc(T*D)
	ws.logits = be.Alloc(T * c.Vocab)
	return ws
}

// rope rotates the first rot dims of every head of x [T, H·headDim].
func (n *neoxModel) rope(be backend.Backend, ws *neoxWS, rope *ropeTable, x backend.Buffer, inverse bool) {
	c := n.cfg
	rotaryPart(be, x, ws.part, ws.T, c.Heads, c.HeadDim, n.rot, false)
	be.Rope(ws.part, rope.cos, rope.sin, ws.T, c.Heads, n.rot, 0, false, inverse)
	rotaryPart(be, x, ws.part, ws.T, c.Heads, c.HeadDim, n.rot, true)
}

// forward runs the model on ids (positions 0..T-1), keeping every layer's
// activations in ws and the logits in ws.logits.
func (n *neoxModel) forward(be backend.Backend, ws *neoxWS, rope *ropeTable, ids []int) {
	c, P := n.cfg, n.params
	T, D, F, H, hd := len(ids), c.Dim, c.Hidden, c.Heads, c.HeadDim

	be.Embedding(ws.res[0], P[n.embed], ids)
	for l, lp := range n.layers {
		a, x, out := &ws.acts[l], ws.res[l], ws.res[l+1]

		// Attention branch: dense(attention(rope(q), rope(k), v)) + bias.
		layerNorm(be, a.h1, a.mean1, a.rstd1, x, P[lp.ln1W], P[lp.ln1B], T, D, c.NormEps)
		be.MatMul(a.qkv, a.h1, P[lp.qkvW], T, false)
		addBias(be, a.qkv, P[lp.qkvB], T, 3*D)
		splitHeadsQKV(be, a.qkv, a.q, a.k, a.v, T, H, hd, false)
		n.rope(be, ws, rope, a.q, false)
		n.rope(be, ws, rope, a.k, false)
		be.Attention(a.att, a.probs, a.q, a.k, a.v, T, T, H, H, hd)
		be.MatMul(ws.attnOut, a.att, P[lp.denseW], T, false)
		addBias(be, ws.attnOut, P[lp.denseB], T, D)

		// MLP branch on x (parallel) or on y = x + attention (sequential).
		mlpIn := x
		if !c.ParallelResidual {
			be.Copy(a.y, x)
			be.Add(a.y, ws.attnOut)
			mlpIn = a.y
		}
		layerNorm(be, a.h2, a.mean2, a.rstd2, mlpIn, P[lp.ln2W], P[lp.ln2B], T, D, c.NormEps)
		be.MatMul(a.u, a.h2, P[lp.upW], T, false)
		addBias(be, a.u, P[lp.upB], T, F)
		gelu(be, a.a, a.u, T*F)
		be.MatMul(ws.mlpOut, a.a, P[lp.downW], T, false)
		addBias(be, ws.mlpOut, P[lp.downB], T, D)

		be.Copy(out, mlpIn)
		be.Add(out, ws.mlpOut)
		if c.ParallelResidual {
			be.Add(out, ws.attnOut)
		}
	}
	layerNorm(be, ws.xnf, ws.meanf, ws.rstdf, ws.res[c.Layers], P[n.lnfW], P[n.lnfB], T, D, c.NormEps)
	be.MatMul(ws.logits, ws.xnf, P[n.head], T, false)
}

// backward propagates dlogits [T, vocab] through the kept forward in ws and
// adds every parameter's gradient into g (aligned with params), mirroring
// forward in reverse.
func (n *neoxModel) backward(be backend.Backend, ws *neoxWS, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c, P := n.cfg, n.params
	T, D, F, H, hd := len(ids), c.Dim, c.Hidden, c.Heads, c.HeadDim
	if ws.dres == nil {
		ws.dres, ws.dy, ws.dh1, ws.dh2 = be.Alloc(T*D), be.Alloc(T*D), be.Alloc(T*D), be.Alloc(T*D)
		ws.dqkv, ws.dq, ws.dk, ws.dv, ws.datt = be.Alloc(3*T*D), be.Alloc(T*D), be.Alloc(T*D), be.Alloc(T*D), be.Alloc(T*D)
		ws.du, ws.da = be.Alloc(T*F), be.Alloc(T*F)
	}
	dres := ws.dres

	// Head and final LayerNorm.
	be.MatMulBackward(ws.dh1, g[n.head], dlogits, ws.xnf, P[n.head], T, false)
	be.Zero(dres)
	layerNormBackward(be, dres, g[n.lnfW], g[n.lnfB], ws.dh1, ws.res[c.Layers], ws.meanf, ws.rstdf, P[n.lnfW], T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp, a, x := n.layers[l], &ws.acts[l], ws.res[l]

		// MLP branch: its output gradient is dres (the residual passes it through).
		biasBackward(be, g[lp.downB], dres, T, D)
		be.MatMulBackward(ws.da, g[lp.downW], dres, a.a, P[lp.downW], T, false)
		geluBackward(be, ws.du, ws.da, a.u, T*F)
		biasBackward(be, g[lp.upB], ws.du, T, F)
		be.MatMulBackward(ws.dh2, g[lp.upW], ws.du, a.h2, P[lp.upW], T, false)

		// The attention output's gradient: dres itself (parallel), or
		// dy = dres + the MLP's LayerNorm input gradient (sequential).
		dattn := dres
		if c.ParallelResidual {
			// dres must stay the layer output's gradient until the attention
			// branch has read it, so the MLP LayerNorm adds into dy first.
			be.Zero(ws.dy)
			layerNormBackward(be, ws.dy, g[lp.ln2W], g[lp.ln2B], ws.dh2, x, a.mean2, a.rstd2, P[lp.ln2W], T, D)
		} else {
			layerNormBackward(be, dres, g[lp.ln2W], g[lp.ln2B], ws.dh2, a.y, a.mean2, a.rstd2, P[lp.ln2W], T, D)
		}

		// Attention branch.
		biasBackward(be, g[lp.denseB], dattn, T, D)
		be.MatMulBackward(ws.datt, g[lp.denseW], dattn, a.att, P[lp.denseW], T, false)
		be.AttentionBackward(ws.dq, ws.dk, ws.dv, ws.datt, a.q, a.k, a.v, a.probs, T, H, H, hd)
		n.rope(be, ws, rope, ws.dq, true)
		n.rope(be, ws, rope, ws.dk, true)
		splitHeadsQKV(be, ws.dqkv, ws.dq, ws.dk, ws.dv, T, H, hd, true)
		biasBackward(be, g[lp.qkvB], ws.dqkv, T, 3*D)
		be.MatMulBackward(ws.dh1, g[lp.qkvW], ws.dqkv, a.h1, P[lp.qkvW], T, false)
		layerNormBackward(be, dres, g[lp.ln1W], g[lp.ln1B], ws.dh1, x, a.mean1, a.rstd1, P[lp.ln1W], T, D)
		if c.ParallelResidual {
			be.Add(dres, ws.dy)
		}
	}
	be.EmbeddingBackward(g[n.embed], dres, ids, D)
}

// lossAndGrad runs forward and backward on one sequence with next-token
// targets on be and adds d(summed NLL)/d(params) into g (float32, aligned
// with params). It returns the summed NLL, the number of predicted tokens
// and the logits [T, vocab].
func (n *neoxModel) lossAndGrad(be backend.Backend, ids []int, g [][]float32) (sumNLL float64, count int, logits []float32, err error) {
	if err := checkFamilyInput(n.cfg, n.params, ids, g); err != nil {
		return 0, 0, nil, err
	}
	T := len(ids)
	rope := newRopeTable(be, n.inv, T)
	ws := n.newWS(be, T)
	n.forward(be, ws, rope, ids)
	logits = make([]float32, T*n.cfg.Vocab)
	be.Download(logits, ws.logits)
	ws.dlogits = be.Alloc(T * n.cfg.Vocab)
	sumNLL = be.CrossEntropy(ws.dlogits, ws.logits, nextTokenTargets(ids), T, n.cfg.Vocab)
	gb := make([]backend.Buffer, len(g))
	for i, v := range g {
		gb[i] = be.FromHost(v)
	}
	n.backward(be, ws, rope, ids, ws.dlogits, gb)
	for i, v := range g {
		be.Download(v, gb[i])
	}
	return sumNLL, T - 1, logits, nil
}
