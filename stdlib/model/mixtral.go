package model

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// Mixtral: Hugging Face MixtralForCausalLM, forward and backward. The
// attention block is Llama's (RMSNorm, q/k/v/o, RoPE, grouped-query causal
// attention); the MLP is the sparse mixture of experts:
//
//	z   = h·Wgateᵀ                       router logits [T, E]
//	p   = softmax(z); K = top-k of p     (num_experts_per_tok; ties: lower expert first)
//	w_i = p_i / Σ_{j∈K} p_j              renormalised routing weights
//	out = Σ_{i∈K} w_i · w2(silu(w1 h) ⊙ w3 h)
//
// Backward: the experts a token chose get gradients scaled by its weight;
// the routing weights get dw_i = ⟨dout, expert_i(h)⟩, which flows through
// the renormalisation (dp_j = (dw_j − Σ_i dw_i w_i)/S for j ∈ K, 0 otherwise)
// and the softmax into the router. The router's auxiliary load-balancing loss
// is not part of the loss (HF adds it only with output_router_logits).
//
// Like gpt_neox.go this is not yet reachable from New/LossAndGrad.

// mixtralLayer holds the indices into params of one layer's tensors.
type mixtralLayer struct {
	q, k, v, o, norm1, norm2, gate int
	w1, w2, w3                     []int // per expert: gate, down, up projections
}

// mixtralModel is a validated Mixtral parameter set.
type mixtralModel struct {
	cfg               Config
	params            []*tensor.Tensor // in ParamSpecs order
	embed, norm, head int
	layers            []mixtralLayer
	inv               []float64
}

func newMixtral(cfg Config, tensors []*tensor.Tensor) (*mixtralModel, error) {
	if cfg.Architecture != "mixtral" {
		return nil, fmt.Errorf("model: newMixtral on a %q config", cfg.Architecture)
	}
	if cfg.HeadDim == 0 && cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	if cfg.KVHeads == 0 {
		cfg.KVHeads = cfg.Heads
	}
	switch {
	case cfg.NumExperts <= 0 || cfg.ExpertsPerToken <= 0 || cfg.ExpertsPerToken > cfg.NumExperts:
		return nil, fmt.Errorf("model: mixtral needs 1 ≤ num_experts_per_tok (%d) ≤ num_local_experts (%d)", cfg.ExpertsPerToken, cfg.NumExperts)
	case cfg.SlidingWindow > 0:
		return nil, fmt.Errorf("model: mixtral sliding_window = %d is not supported yet (Mixtral-8x7B has none)", cfg.SlidingWindow)
	case cfg.HeadDim%2 != 0:
		return nil, fmt.Errorf("model: head_dim = %d must be even (RoPE rotates pairs)", cfg.HeadDim)
	case !(cfg.NormEps > 0):
		return nil, fmt.Errorf("model: rms_norm_eps = %g must be positive", cfg.NormEps)
	case cfg.HiddenAct != "" && cfg.HiddenAct != "silu":
		return nil, fmt.Errorf("model: mixtral hidden_act %q is not supported (valid: silu)", cfg.HiddenAct)
	case cfg.AttentionBias || cfg.MLPBias:
		return nil, errors.New("model: mixtral with biases is not supported (Mixtral has none)")
	}
	inv, err := invFreq(cfg)
	if err != nil {
		return nil, fmt.Errorf("model: %v", err)
	}
	params, index, err := collectParams(cfg, tensors)
	if err != nil {
		return nil, err
	}
	m := &mixtralModel{cfg: cfg, params: params, inv: inv,
		embed: index["model.embed_tokens.weight"], norm: index["model.norm.weight"]}
	m.head = m.embed
	if !cfg.TiedEmbeds {
		m.head = index["lm_head.weight"]
	}
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		lp := mixtralLayer{
			q: index[p+"self_attn.q_proj.weight"], k: index[p+"self_attn.k_proj.weight"],
			v: index[p+"self_attn.v_proj.weight"], o: index[p+"self_attn.o_proj.weight"],
			norm1: index[p+"input_layernorm.weight"], norm2: index[p+"post_attention_layernorm.weight"],
			gate: index[p+"block_sparse_moe.gate.weight"],
		}
		for e := 0; e < cfg.NumExperts; e++ {
			x := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			lp.w1 = append(lp.w1, index[x+"w1.weight"])
			lp.w2 = append(lp.w2, index[x+"w2.weight"])
			lp.w3 = append(lp.w3, index[x+"w3.weight"])
		}
		m.layers = append(m.layers, lp)
	}
	return m, nil
}

// expertActs are one expert's activations over the tokens routed to it.
type expertActs struct {
	rows  []int     // token of each routed row
	slot  []int     // which of the token's top-k picks this expert was
	scale []float64 // the token's routing weight for this expert
	x     backend.Buffer
	g, u  backend.Buffer // w1 and w3 outputs
	a     backend.Buffer // silu(g)·u = w2 input
	y     backend.Buffer // w2 output (unscaled)
}

// mixtralActs are one layer's activations kept for the backward.
type mixtralActs struct {
	rstd1, xn1, q, k, v, probs, att, xmid, rstd2, xn2 backend.Buffer
	router                                            backend.Buffer // router logits [T, E]
	p                                                 [][]float64    // softmax over experts, per token
	sel                                               [][]int        // chosen experts, per token
	w                                                 [][]float64    // renormalised weights, per token
	experts                                           []expertActs
}

// mixtralWS holds a kept forward over T tokens and the backward's scratch.
type mixtralWS struct {
	T           int
	res         []backend.Buffer
	acts        []mixtralActs
	rstdf, xnf  backend.Buffer
	logits      backend.Buffer
	dres, dxn   backend.Buffer
	datt, dq    backend.Buffer
	dk, dv, dz  backend.Buffer
	dlogits     backend.Buffer
	expertBufs  int // rows the expert scratch below holds
	dy, da      backend.Buffer
	dg, du, dxe backend.Buffer
}

func (m *mixtralModel) newWS(be backend.Backend, T int) *mixtralWS {
	c := m.cfg
	D, H, KV, hd := c.Dim, c.Heads, c.KVHeads, c.HeadDim
	ws := &mixtralWS{T: T}
	for l := 0; l <= c.Layers; l++ {
		ws.res = append(ws.res, be.Alloc(T*D))
	}
	for l := 0; l < c.Layers; l++ {
		ws.acts = append(ws.acts, mixtralActs{
			rstd1: be.Alloc(T), xn1: be.Alloc(T * D),
			q: be.Alloc(T * H * hd), k: be.Alloc(T * KV * hd), v: be.Alloc(T * KV * hd),
			probs: be.Alloc(H * T * T), att: be.Alloc(T * H * hd), xmid: be.Alloc(T * D),
			rstd2: be.Alloc(T), xn2: be.Alloc(T * D), router: be.Alloc(T * c.NumExperts),
		})
	}
	ws.rstdf, ws.xnf, ws.logits = be.Alloc(T), be.Alloc(T*D), be.Alloc(T*c.Vocab)
	return ws
}

// route computes the softmax over experts, the top-k choice and the
// renormalised weights of every token from the router logits z [T, E].
func route(z []float64, T, E, k int) (p [][]float64, sel [][]int, w [][]float64) {
	for t := 0; t < T; t++ {
		row := z[t*E : (t+1)*E]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		pt := make([]float64, E)
		var s float64
		for i, v := range row {
			pt[i] = math.Exp(v - mx)
			s += pt[i]
		}
		for i := range pt {
			pt[i] /= s
		}
		order := make([]int, E)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return pt[order[a]] > pt[order[b]] })
		st := order[:k]
		var sk float64
		for _, e := range st {
			sk += pt[e]
		}
		wt := make([]float64, k)
		for i, e := range st {
			wt[i] = pt[e] / sk
		}
		p, sel, w = append(p, pt), append(sel, st), append(w, wt)
	}
	return p, sel, w
}

// forward runs the model on ids (positions 0..T-1), keeping every layer's
// activations in ws and the logits in ws.logits.
func (m *mixtralModel) forward(be backend.Backend, ws *mixtralWS, rope *ropeTable, ids []int) {
	c, P := m.cfg, m.params
	T, D, F, E := len(ids), c.Dim, c.Hidden, c.NumExperts
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim

	be.Embedding(ws.res[0], P[m.embed], ids)
	for l, lp := range m.layers {
		a, x, out := &ws.acts[l], ws.res[l], ws.res[l+1]

		// Attention block, as in llama_forward.go.
		be.RMSNorm(a.xn1, a.rstd1, x, P[lp.norm1], T, D, c.NormEps)
		be.MatMul(a.q, a.xn1, P[lp.q], T, false)
		be.MatMul(a.k, a.xn1, P[lp.k], T, false)
		be.MatMul(a.v, a.xn1, P[lp.v], T, false)
		be.Rope(a.q, rope.cos, rope.sin, T, H, hd, 0, false, false)
		be.Rope(a.k, rope.cos, rope.sin, T, KV, hd, 0, false, false)
		be.Attention(a.att, a.probs, a.q, a.k, a.v, T, T, H, KV, hd)
		be.Copy(a.xmid, x)
		be.MatMul(a.xmid, a.att, P[lp.o], T, true)

		// Sparse MoE block: route, run each expert on its tokens, add the
		// weighted outputs to the residual.
		be.RMSNorm(a.xn2, a.rstd2, a.xmid, P[lp.norm2], T, D, c.NormEps)
		be.MatMul(a.router, a.xn2, P[lp.gate], T, false)
		a.p, a.sel, a.w = route(download64(be, a.router, T*E), T, E, c.ExpertsPerToken)
		be.Copy(out, a.xmid)
		a.experts = make([]expertActs, E)
		for t, st := range a.sel {
			for s, e := range st {
				ex := &a.experts[e]
				ex.rows, ex.slot, ex.scale = append(ex.rows, t), append(ex.slot, s), append(ex.scale, a.w[t][s])
			}
		}
		for e := range a.experts {
			ex := &a.experts[e]
			n := len(ex.rows)
			if n == 0 {
				continue
			}
			ex.x, ex.g, ex.u, ex.a, ex.y = be.Alloc(n*D), be.Alloc(n*F), be.Alloc(n*F), be.Alloc(n*F), be.Alloc(n*D)
			gatherRows(be, ex.x, a.xn2, ex.rows, nil, T, D)
			be.MatMul(ex.g, ex.x, P[lp.w1[e]], n, false)
			be.MatMul(ex.u, ex.x, P[lp.w3[e]], n, false)
			be.SwiGLU(ex.a, ex.g, ex.u, n*F)
			be.MatMul(ex.y, ex.a, P[lp.w2[e]], n, false)
			scatterAddRows(be, out, ex.y, ex.rows, ex.scale, T, D)
		}
	}
	be.RMSNorm(ws.xnf, ws.rstdf, ws.res[c.Layers], P[m.norm], T, D, c.NormEps)
	be.MatMul(ws.logits, ws.xnf, P[m.head], T, false)
}

// backward propagates dlogits [T, vocab] through the kept forward in ws and
// adds every parameter's gradient into g (aligned with params).
func (m *mixtralModel) backward(be backend.Backend, ws *mixtralWS, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c, P := m.cfg, m.params
	T, D, F, E := len(ids), c.Dim, c.Hidden, c.NumExperts
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	if ws.dres == nil {
		ws.dres, ws.dxn = be.Alloc(T*D), be.Alloc(T*D)
		ws.datt, ws.dq = be.Alloc(T*H*hd), be.Alloc(T*H*hd)
		ws.dk, ws.dv, ws.dz = be.Alloc(T*KV*hd), be.Alloc(T*KV*hd), be.Alloc(T*E)
	}
	dres, dxn := ws.dres, ws.dxn

	be.MatMulBackward(dxn, g[m.head], dlogits, ws.xnf, P[m.head], T, false)
	be.Zero(dres)
	be.RMSNormBackward(dres, g[m.norm], dxn, ws.res[c.Layers], ws.rstdf, P[m.norm], T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp, a, x := m.layers[l], &ws.acts[l], ws.res[l]

		// MoE block: experts, then the routing weights through the
		// renormalisation and the softmax into the router.
		be.Zero(dxn)
		dw := make([][]float64, T)
		for t := range dw {
			dw[t] = make([]float64, c.ExpertsPerToken)
		}
		for e := range a.experts {
			ex := &a.experts[e]
			n := len(ex.rows)
			if n == 0 {
				continue
			}
			m.expertScratch(be, ws, n)
			for i, d := range rowDots(be, dres, ex.y, ex.rows, T, D) {
				dw[ex.rows[i]][ex.slot[i]] = d
			}
			dy, da, dg, du, dxe := be.Slice(ws.dy, 0, n*D), be.Slice(ws.da, 0, n*F), be.Slice(ws.dg, 0, n*F), be.Slice(ws.du, 0, n*F), be.Slice(ws.dxe, 0, n*D)
			gatherRows(be, dy, dres, ex.rows, ex.scale, T, D)
			be.MatMulBackward(da, g[lp.w2[e]], dy, ex.a, P[lp.w2[e]], n, false)
			be.SwiGLUBackward(dg, du, da, ex.g, ex.u, n*F)
			be.MatMulBackward(dxe, g[lp.w1[e]], dg, ex.x, P[lp.w1[e]], n, false)
			be.MatMulBackward(dxe, g[lp.w3[e]], du, ex.x, P[lp.w3[e]], n, true)
			scatterAddRows(be, dxn, dxe, ex.rows, ones(n), T, D)
		}
		dz := make([]float64, T*E)
		for t := 0; t < T; t++ {
			var sk, dot float64
			for s, e := range a.sel[t] {
				sk += a.p[t][e]
				dot += dw[t][s] * a.w[t][s]
			}
			dp := make([]float64, E)
			for s, e := range a.sel[t] {
				dp[e] = (dw[t][s] - dot) / sk
			}
			var pdp float64
			for e := range dp {
				pdp += a.p[t][e] * dp[e]
			}
			for e := range dp {
				dz[t*E+e] = a.p[t][e] * (dp[e] - pdp)
			}
		}
		upload64(be, ws.dz, dz)
		be.MatMulBackward(dxn, g[lp.gate], ws.dz, a.xn2, P[lp.gate], T, true)
		be.RMSNormBackward(dres, g[lp.norm2], dxn, a.xmid, a.rstd2, P[lp.norm2], T, D)

		// Attention block, as in llama_backward.go.
		be.MatMulBackward(ws.datt, g[lp.o], dres, a.att, P[lp.o], T, false)
		be.AttentionBackward(ws.dq, ws.dk, ws.dv, ws.datt, a.q, a.k, a.v, a.probs, T, H, KV, hd)
		be.Rope(ws.dq, rope.cos, rope.sin, T, H, hd, 0, false, true)
		be.Rope(ws.dk, rope.cos, rope.sin, T, KV, hd, 0, false, true)
		be.MatMulBackward(dxn, g[lp.q], ws.dq, a.xn1, P[lp.q], T, false)
		be.MatMulBackward(dxn, g[lp.k], ws.dk, a.xn1, P[lp.k], T, true)
		be.MatMulBackward(dxn, g[lp.v], ws.dv, a.xn1, P[lp.v], T, true)
		be.RMSNormBackward(dres, g[lp.norm1], dxn, x, a.rstd1, P[lp.norm1], T, D)
	}
	be.EmbeddingBackward(g[m.embed], dres, ids, D)
}

// expertScratch makes the backward's per-expert buffers hold n rows.
func (m *mixtralModel) expertScratch(be backend.Backend, ws *mixtralWS, n int) {
	if ws.expertBufs >= n {
		return
	}
	D, F := m.cfg.Dim, m.cfg.Hidden
	ws.dy, ws.da, ws.dg, ws.du, ws.dxe = be.Alloc(n*D), be.Alloc(n*F), be.Alloc(n*F), be.Alloc(n*F), be.Alloc(n*D)
	ws.expertBufs = n
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// lossAndGrad runs forward and backward on one sequence with next-token
// targets and adds d(summed NLL)/d(params) into g (aligned with params).
func (m *mixtralModel) lossAndGrad(be backend.Backend, ids []int, g [][]float32) (sumNLL float64, count int, logits []float32, err error) {
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

// checkFamilyInput validates ids and gradient slices for a family's lossAndGrad.
func checkFamilyInput(cfg Config, params []*tensor.Tensor, ids []int, g [][]float32) error {
	if len(ids) < 2 {
		return errors.New("model: lossAndGrad needs at least 2 tokens")
	}
	for i, id := range ids {
		if id < 0 || id >= cfg.Vocab {
			return fmt.Errorf("model: token id %d at position %d is outside the vocabulary [0, %d)", id, i, cfg.Vocab)
		}
	}
	if n := cfg.MaxSeqLen; n > 0 && len(ids) > n {
		return fmt.Errorf("model: sequence of %d tokens exceeds max_position_embeddings = %d", len(ids), n)
	}
	if len(g) != len(params) {
		return fmt.Errorf("model: %d gradient tensors for %d parameters", len(g), len(params))
	}
	for i, v := range g {
		if len(v) != params[i].Len() {
			return fmt.Errorf("model: gradient %d (%s) has %d values, parameter has %d", i, params[i].Name, len(v), params[i].Len())
		}
	}
	return nil
}
