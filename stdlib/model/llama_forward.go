package model

import "esa/stdlib/backend"

// kvCache holds keys and values of every layer for incremental decoding,
// [capacity, kvHeads·headDim] per layer.
type kvCache struct {
	k, v []backend.Buffer
}

// forward runs the Llama decoder (Hugging Face LlamaForCausalLM) on ids,
// which sit at positions pos0, pos0+1, ... It fills ws with the activations
// and the logits: of every row, or of the last row only when lastOnly
// (decoding). Without a cache, keys and values are ws's own and attention
// sees ids only; with one, they are appended to the cache and attention sees
// the whole prefix.
func (m *Model) forward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, pos0 int, kv *kvCache, hook Hook, lastOnly bool) {
	c := m.Config
	P := m.Params
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	qd, kvd := H*hd, KV*hd

	be.Embedding(ws.res[0], P[m.embed], ids)

	for l, lp := range m.layers {
		a, x, xout := ws.layer(l)

		// Attention block: x + o_proj(attention(rope(q), rope(k), v)).
		be.RMSNorm(a.xn1, a.rstd1, x, P[lp.norm1], T, D, c.NormEps)
		fire(hook, be, ws, l, SiteInput, a.xn1, T, D, lp.q, lp.k, lp.v)
		k, v, tk := a.k, a.v, T
		if kv != nil {
			k = be.Slice(kv.k[l], pos0*kvd, T*kvd)
			v = be.Slice(kv.v[l], pos0*kvd, T*kvd)
			tk = pos0 + T
		}
		be.MatMul(a.q, a.xn1, P[lp.q], T, false)
		be.MatMul(k, a.xn1, P[lp.k], T, false)
		be.MatMul(v, a.xn1, P[lp.v], T, false)
		be.Rope(a.q, rope.cos, rope.sin, T, H, hd, pos0, c.RopeInterleaved, false)
		be.Rope(k, rope.cos, rope.sin, T, KV, hd, pos0, c.RopeInterleaved, false)
		if kv != nil {
			k, v = kv.k[l], kv.v[l]
		}
		be.Attention(a.att, a.probs, a.q, k, v, T, tk, H, KV, hd)
		fire(hook, be, ws, l, SiteInput, a.att, T, qd, lp.o)
		be.Copy(a.xmid, be.Slice(x, 0, T*D))
		be.MatMul(a.xmid, a.att, P[lp.o], T, true)

		// MLP block: xmid + down_proj(silu(gate_proj(x))·up_proj(x)).
		be.RMSNorm(a.xn2, a.rstd2, a.xmid, P[lp.norm2], T, D, c.NormEps)
		fire(hook, be, ws, l, SiteInput, a.xn2, T, D, lp.gate, lp.up)
		be.MatMul(a.gate, a.xn2, P[lp.gate], T, false)
		be.MatMul(a.up, a.xn2, P[lp.up], T, false)
		be.SwiGLU(a.h, a.gate, a.up, T*F)
		fire(hook, be, ws, l, SiteInput, a.h, T, F, lp.down)
		be.MatMul(ws.mlp, a.h, P[lp.down], T, false)
		fire(hook, be, ws, l, SiteOutput, ws.mlp, T, D, lp.down)
		be.Copy(xout, be.Slice(a.xmid, 0, T*D))
		be.Add(xout, be.Slice(ws.mlp, 0, T*D))
	}

	// Final norm and head (the embedding matrix when tied).
	x := ws.final(c.Layers)
	be.RMSNorm(ws.xnf, ws.rstf, x, P[m.norm], T, D, c.NormEps)
	xnf, rows := ws.xnf, T
	if lastOnly {
		xnf, rows = be.Slice(ws.xnf, (T-1)*D, D), 1
	}
	fire(hook, be, ws, -1, SiteInput, xnf, rows, D, m.head)
	be.MatMul(ws.lgt, xnf, P[m.head], rows, false)
}
