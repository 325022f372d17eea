package model

import "esa/stdlib/backend"

// backward propagates dlogits [T, vocab] through a kept forward of ids and
// adds every parameter's gradient into g (aligned with Params). It mirrors
// forward in reverse, one line per forward op; dres carries the gradient of
// the residual stream from the top of the network down to the embedding.
func (m *Model) backward(be backend.Backend, ws *workspace, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer) {
	c := m.Config
	P := m.Params
	T, D, F := len(ids), c.Dim, c.Hidden
	H, KV, hd := c.Heads, c.KVHeads, c.HeadDim
	s := ws.scratch(be, c)
	dres, dxn := s.dres, s.dxn

	// Head and final norm.
	be.MatMulBackward(dxn, g[m.head], dlogits, ws.xnf, P[m.head], T, false)
	be.Zero(dres)
	be.RMSNormBackward(dres, g[m.norm], dxn, ws.final(c.Layers), ws.rstf, P[m.norm], T, D)

	for l := c.Layers - 1; l >= 0; l-- {
		lp := m.layers[l]
		a, x, _ := ws.layer(l)

		// MLP block. The residual passes dres through unchanged; the
		// branch adds its input gradient to it.
		be.MatMulBackward(s.dh, g[lp.down], dres, a.h, P[lp.down], T, false)
		be.SwiGLUBackward(s.dgate, s.dup, s.dh, a.gate, a.up, T*F)
		be.MatMulBackward(dxn, g[lp.gate], s.dgate, a.xn2, P[lp.gate], T, false)
		be.MatMulBackward(dxn, g[lp.up], s.dup, a.xn2, P[lp.up], T, true)
		be.RMSNormBackward(dres, g[lp.norm2], dxn, a.xmid, a.rstd2, P[lp.norm2], T, D)

		// Attention block.
		be.MatMulBackward(s.datt, g[lp.o], dres, a.att, P[lp.o], T, false)
		be.AttentionBackward(s.dq, s.dk, s.dv, s.datt, a.q, a.k, a.v, a.probs, T, H, KV, hd)
		be.Rope(s.dq, rope.cos, rope.sin, T, H, hd, 0, c.RopeInterleaved, true)
		be.Rope(s.dk, rope.cos, rope.sin, T, KV, hd, 0, c.RopeInterleaved, true)
		be.MatMulBackward(dxn, g[lp.q], s.dq, a.xn1, P[lp.q], T, false)
		be.MatMulBackward(dxn, g[lp.k], s.dk, a.xn1, P[lp.k], T, true)
		be.MatMulBackward(dxn, g[lp.v], s.dv, a.xn1, P[lp.v], T, true)
		be.RMSNormBackward(dres, g[lp.norm1], dxn, x, a.rstd1, P[lp.norm1], T, D)
	}

	be.EmbeddingBackward(g[m.embed], dres, ids, D)
}
