package model

import "esa/stdlib/backend"

// kvCache holds keys and values of every layer for incremental decoding,
// [capacity, kvHeads·headDim] per layer.
type kvCache struct {
	k, v []backend.Buffer
}

// llamaForward runs the Llama decoder (llama.go; Phi-3 and Mixtral too) on
// ids, which sit at positions pos0, pos0+1, ... It fills ws with the
// activations and the logits: of every row, or of the last row only when
// lastOnly (decoding). Without a cache, keys and values are ws's own and
// attention sees ids only; with one, they are appended to the cache and
// attention sees the whole prefix.
func (m *Model) llamaForward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, pos0 int, kv *kvCache, hook Hook, lastOnly bool) {
	c := m.Config
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	qd, kvd := H*hd, KV*hd

	be.Embedding(ws.res[0], m.Params[m.embed], ids)

	for l := range m.layers {
		lp := &m.layers[l]
		a, x, xout := ws.layer(l)

		// Attention block: x + o_proj(attention(rope(q), rope(k), v)).
		be.RMSNorm(a.xn1, a.rstd1, x, lp.norm1.w, T, D, c.NormEps)
		fire(hook, be, ws, l, SiteInput, a.xn1, T, D, nil, lp.q.param, lp.k.param, lp.v.param)
		k, v, tk := a.k, a.v, T
		if kv != nil {
			k = be.Slice(kv.k[l], pos0*kvd, T*kvd)
			v = be.Slice(kv.v[l], pos0*kvd, T*kvd)
			tk = pos0 + T
		}
		lp.q.forward(be, a.q, a.xn1, T, false)
		lp.k.forward(be, k, a.xn1, T, false)
		lp.v.forward(be, v, a.xn1, T, false)
		be.Rope(a.q, rope.cos, rope.sin, T, H, hd, hd, pos0, c.RopeInterleaved, false)
		be.Rope(k, rope.cos, rope.sin, T, KV, hd, hd, pos0, c.RopeInterleaved, false)
		if kv != nil {
			k, v = kv.k[l], kv.v[l]
		}
		be.Attention(a.att, a.probs, a.q, k, v, T, tk, H, KV, hd, c.SlidingWindow)
		fire(hook, be, ws, l, SiteInput, a.att, T, qd, nil, lp.o.param)
		be.Copy(a.xmid, be.Slice(x, 0, T*D))
		lp.o.forward(be, a.xmid, a.att, T, true)

		// MLP block: xmid + mlp(RMSNorm(xmid)), the MLP SwiGLU or, for
		// Mixtral, the mixture of experts.
		be.RMSNorm(a.xn2, a.rstd2, a.xmid, lp.norm2.w, T, D, c.NormEps)
		be.Copy(xout, be.Slice(a.xmid, 0, T*D))
		if lp.experts != nil {
			m.moeForward(be, ws, a, lp, l, xout, hook, T)
			continue
		}
		fire(hook, be, ws, l, SiteInput, a.xn2, T, D, nil, lp.gate.param, lp.up.param)
		lp.gate.forward(be, a.gate, a.xn2, T, false)
		lp.up.forward(be, a.up, a.xn2, T, false)
		be.SwiGLU(a.h, a.gate, a.up, T*F)
		fire(hook, be, ws, l, SiteInput, a.h, T, F, nil, lp.down.param)
		lp.down.forward(be, ws.mlp, a.h, T, false)
		fire(hook, be, ws, l, SiteOutput, ws.mlp, T, D, nil, lp.down.param)
		be.Add(xout, be.Slice(ws.mlp, 0, T*D))
	}

	// Final norm and head (the embedding matrix when tied).
	be.RMSNorm(ws.xnf, ws.rstf, ws.final(c.Layers), m.final.w, T, D, c.NormEps)
	m.headForward(be, ws, hook, T, lastOnly)
}

// headForward computes the logits from the final normed hidden state: of
// every row, or of the last one when lastOnly.
func (m *Model) headForward(be backend.Backend, ws *workspace, hook Hook, T int, lastOnly bool) {
	D := m.Config.Dim
	xnf, rows := ws.xnf, T
	if lastOnly {
		xnf, rows = be.Slice(ws.xnf, (T-1)*D, D), 1
	}
	fire(hook, be, ws, -1, SiteInput, xnf, rows, D, nil, m.head.param)
	m.head.forward(be, ws.lgt, xnf, rows, false)
}
