package model

import "esa/stdlib/backend"

// llamaBackward propagates dlogits [T, vocab] through a kept llamaForward of
// ids and adds every parameter's gradient into g (aligned with Params). It
// mirrors the forward in reverse, one line per forward op; dres carries the
// gradient of the residual stream from the top of the network down to the
// embedding.
func (m *Model) llamaBackward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c := m.Config
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	s := ws.scratch(be, c)
	dres, dxn := s.dres, s.dxn

	// Head and final norm.
	m.head.backward(be, dxn, dlogits, ws.xnf, g, T, false)
	be.Zero(dres)
	be.RMSNormBackward(dres, g[m.final.wi], dxn, ws.final(c.Layers), ws.rstf, m.final.w, T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp := &m.layers[l]
		a, x, _ := ws.layer(l)

		// MLP block. The residual passes dres through unchanged; the
		// branch adds its input gradient to it.
		if lp.experts != nil {
			m.moeBackward(be, s, a, lp, g, T)
		} else {
			lp.down.backward(be, s.dh, dres, a.h, g, T, false)
			be.SwiGLUBackward(s.dgate, s.dup, s.dh, a.gate, a.up, T*F)
			lp.gate.backward(be, dxn, s.dgate, a.xn2, g, T, false)
			lp.up.backward(be, dxn, s.dup, a.xn2, g, T, true)
		}
		be.RMSNormBackward(dres, g[lp.norm2.wi], dxn, a.xmid, a.rstd2, lp.norm2.w, T, D)

		// Attention block.
		lp.o.backward(be, s.datt, dres, a.att, g, T, false)
		be.AttentionBackward(s.dq, s.dk, s.dv, s.datt, a.q, a.k, a.v, a.probs, T, H, KV, hd, c.SlidingWindow)
		be.Rope(s.dq, rope.cos, rope.sin, T, H, hd, hd, 0, c.RopeInterleaved, true)
		be.Rope(s.dk, rope.cos, rope.sin, T, KV, hd, hd, 0, c.RopeInterleaved, true)
		lp.q.backward(be, dxn, s.dq, a.xn1, g, T, false)
		lp.k.backward(be, dxn, s.dk, a.xn1, g, T, true)
		lp.v.backward(be, dxn, s.dv, a.xn1, g, T, true)
		be.RMSNormBackward(dres, g[lp.norm1.wi], dxn, x, a.rstd1, lp.norm1.w, T, D)
	}

	be.EmbeddingBackward(g[m.embed], dres, ids, D)
}
