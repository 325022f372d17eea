package model

import "esa/stdlib/backend"

// GPT-NeoX (Pythia): Hugging Face GPTNeoXForCausalLM. Per layer, with x the
// residual stream:
//
//	n   = LayerNorm(x; input_layernorm)
//	qkv = query_key_value(n)          viewed [T, heads, 3·headDim]: per head q, k, v
//	q,k = RoPE on the first rotary_ndims = int(headDim·rotary_pct) dims of each head
//	a   = dense(attention(q, k, v))
//	parallel:   x' = x + a + mlp(LayerNorm(x; post_attention_layernorm))
//	sequential: h = x + a;  x' = h + mlp(LayerNorm(h; post_attention_layernorm))
//	mlp(m) = dense_4h_to_h(gelu(dense_h_to_4h(m)))   (exact GELU)
//
// then final_layer_norm and embed_out (no bias). Every projection has a bias;
// attention has no grouped-query heads and no sliding window.
var neoxFamily = family{
	embed: "gpt_neox.embed_in.weight", norm: "gpt_neox.final_layer_norm", head: "embed_out.weight",
	layer: "gpt_neox.layers.%d.",
	check: func(c Config, bad func(string, ...any)) {
		checkAct(c, bad, "gelu")
		switch {
		case c.KVHeads != c.Heads:
			bad("gpt_neox has no grouped-query attention (num_key_value_heads %d ≠ num_attention_heads %d)", c.KVHeads, c.Heads)
		case c.HeadDim*c.Heads != c.Dim:
			bad("gpt_neox needs head_dim·num_attention_heads = hidden_size (got %d·%d ≠ %d)", c.HeadDim, c.Heads, c.Dim)
		case c.RopeScaling != nil:
			bad("gpt_neox rope_scaling is not supported (Pythia has none)")
		case !c.AttentionBias:
			bad("gpt_neox without attention biases is not supported (Pythia has them)")
		case c.SlidingWindow > 0:
			bad("gpt_neox has no sliding window (sliding_window = %d)", c.SlidingWindow)
		}
	},
	bind: func(m *Model, p string) layer {
		return layer{
			norm1: m.norm(p + "input_layernorm"), norm2: m.norm(p + "post_attention_layernorm"),
			qkv: m.linear(p + "attention.query_key_value"), o: m.linear(p + "attention.dense"),
			up: m.linear(p + "mlp.dense_h_to_4h"), down: m.linear(p + "mlp.dense_4h_to_h"),
		}
	},
	forward:  (*Model).neoxForward,
	backward: (*Model).neoxBackward,
}

// neoxForward runs GPT-NeoX on ids at positions pos0, pos0+1, ..., with or
// without a key/value cache, as llamaForward does.
func (m *Model) neoxForward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, pos0 int, kv *kvCache, hook Hook, lastOnly bool) {
	c := m.Config
	T, D, F := len(ids), c.Dim, c.Hidden
	H, hd, rot := c.Heads, c.HeadDim, m.rot

	be.Embedding(ws.res[0], m.Params[m.embed], ids)
	for l := range m.layers {
		lp := &m.layers[l]
		a, x, xout := ws.layer(l)

		// Attention branch: dense(attention(rope(q), rope(k), v)).
		be.LayerNorm(a.xn1, a.mean1, a.rstd1, x, lp.norm1.w, lp.norm1.b, T, D, c.NormEps)
		fire(hook, be, ws, l, SiteInput, a.xn1, T, D, nil, lp.qkv.param)
		lp.qkv.forward(be, ws.qkv, a.xn1, T, false)
		k, v, tk := a.k, a.v, T
		if kv != nil {
			k, v, tk = be.Slice(kv.k[l], pos0*D, T*D), be.Slice(kv.v[l], pos0*D, T*D), pos0+T
		}
		be.SplitQKV(a.q, k, v, ws.qkv, T, H, hd)
		be.Rope(a.q, rope.cos, rope.sin, T, H, hd, rot, pos0, false, false)
		be.Rope(k, rope.cos, rope.sin, T, H, hd, rot, pos0, false, false)
		if kv != nil {
			k, v = kv.k[l], kv.v[l]
		}
		be.Attention(a.att, a.probs, a.q, k, v, T, tk, H, H, hd, 0)
		fire(hook, be, ws, l, SiteInput, a.att, T, D, nil, lp.o.param)
		lp.o.forward(be, ws.attn, a.att, T, false)

		// MLP branch on x (parallel residual) or on xmid = x + attention
		// (sequential).
		mlpIn := x
		if !c.ParallelResidual {
			be.Copy(a.xmid, be.Slice(x, 0, T*D))
			be.Add(a.xmid, be.Slice(ws.attn, 0, T*D))
			mlpIn = a.xmid
		}
		be.LayerNorm(a.xn2, a.mean2, a.rstd2, mlpIn, lp.norm2.w, lp.norm2.b, T, D, c.NormEps)
		fire(hook, be, ws, l, SiteInput, a.xn2, T, D, nil, lp.up.param)
		lp.up.forward(be, a.up, a.xn2, T, false)
		be.GELU(a.h, a.up, T*F)
		fire(hook, be, ws, l, SiteInput, a.h, T, F, nil, lp.down.param)
		lp.down.forward(be, ws.mlp, a.h, T, false)
		fire(hook, be, ws, l, SiteOutput, ws.mlp, T, D, nil, lp.down.param)

		be.Copy(xout, be.Slice(mlpIn, 0, T*D))
		be.Add(xout, be.Slice(ws.mlp, 0, T*D))
		if c.ParallelResidual {
			be.Add(xout, be.Slice(ws.attn, 0, T*D))
		}
	}
	be.LayerNorm(ws.xnf, ws.meanf, ws.rstf, ws.final(c.Layers), m.final.w, m.final.b, T, D, c.NormEps)
	m.headForward(be, ws, hook, T, lastOnly)
}

// neoxBackward propagates dlogits [T, vocab] through a kept neoxForward of
// ids and adds every parameter's gradient into g, mirroring the forward in
// reverse.
func (m *Model) neoxBackward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c := m.Config
	T, D, F := len(ids), c.Dim, c.Hidden
	H, hd, rot := c.Heads, c.HeadDim, m.rot
	s := ws.scratch(be, c)
	dres, dxn := s.dres, s.dxn

	// Head and final LayerNorm.
	m.head.backward(be, dxn, dlogits, ws.xnf, g, T, false)
	be.Zero(dres)
	be.LayerNormBackward(dres, g[m.final.wi], g[m.final.bi], dxn, ws.final(c.Layers), ws.meanf, ws.rstf, m.final.w, T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp := &m.layers[l]
		a, x, _ := ws.layer(l)

		// MLP branch: its output gradient is dres (the residual passes it
		// through).
		lp.down.backward(be, s.dh, dres, a.h, g, T, false)
		be.GELUBackward(s.dup, s.dh, a.up, T*F)
		lp.up.backward(be, dxn, s.dup, a.xn2, g, T, false)
		if c.ParallelResidual {
			// The MLP's input is x: its gradient waits in dpar, because
			// dres must stay the attention output's gradient until the
			// attention branch has read it.
			be.Zero(s.dpar)
			be.LayerNormBackward(s.dpar, g[lp.norm2.wi], g[lp.norm2.bi], dxn, x, a.mean2, a.rstd2, lp.norm2.w, T, D)
		} else {
			// dres becomes the gradient of xmid = x + attention.
			be.LayerNormBackward(dres, g[lp.norm2.wi], g[lp.norm2.bi], dxn, a.xmid, a.mean2, a.rstd2, lp.norm2.w, T, D)
		}

		// Attention branch: its output gradient is dres.
		lp.o.backward(be, s.datt, dres, a.att, g, T, false)
		be.AttentionBackward(s.dq, s.dk, s.dv, s.datt, a.q, a.k, a.v, a.probs, T, H, H, hd, 0)
		be.Rope(s.dq, rope.cos, rope.sin, T, H, hd, rot, 0, false, true)
		be.Rope(s.dk, rope.cos, rope.sin, T, H, hd, rot, 0, false, true)
		be.MergeQKV(s.dqkv, s.dq, s.dk, s.dv, T, H, hd)
		lp.qkv.backward(be, dxn, s.dqkv, a.xn1, g, T, false)
		be.LayerNormBackward(dres, g[lp.norm1.wi], g[lp.norm1.bi], dxn, x, a.mean1, a.rstd1, lp.norm1.w, T, D)
		if c.ParallelResidual {
			be.Add(dres, be.Slice(s.dpar, 0, T*D))
		}
	}
	be.EmbeddingBackward(g[m.embed], dres, ids, D)
}
