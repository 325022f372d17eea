package backend

import "math"

// attnBlock is the row block of the causal triangle: each block of query rows
// multiplies only against the keys it can see, which halves the work of a
// full square while keeping every product a GEMM.
const attnBlock = 64

// firstKey is the first key position that a query at position pos sees: 0,
// or pos−window+1 under a sliding window.
func firstKey(pos, window int) int {
	if window <= 0 {
		return 0
	}
	return max(0, pos-window+1)
}

// Attention runs one goroutine per query head; each head does its products
// with the single-threaded GEMM. A block of query rows multiplies against
// the keys from the first one its first row sees to the last one its last
// row sees; entries outside a row's range are then set to zero.
func (c *cpu[T]) Attention(out, probs, q, k, v Buffer, tq, tk, heads, kvHeads, headDim, window int) {
	O, Q, K, V := c.s(out), c.s(q), c.s(k), c.s(v)
	qs, ks := heads*headDim, kvHeads*headDim
	grp := heads / kvHeads
	scale := T(1 / math.Sqrt(float64(headDim)))
	off := tk - tq
	var P []T
	if probs != nil {
		P = c.s(probs)
	} else {
		p := c.get(heads * tq * tk)
		defer c.put(p)
		P = *p
	}
	parallelTasks(heads, func(h int) {
		g := h / grp
		Ph := P[h*tq*tk : (h+1)*tq*tk]
		for i0 := 0; i0 < tq; i0 += attnBlock {
			i1 := min(i0+attnBlock, tq)
			j0, j1 := firstKey(off+i0, window), off+i1 // keys the block sees
			gemm(false, false, true, i1-i0, j1-j0, headDim, scale,
				Q[i0*qs+h*headDim:], qs, K[j0*ks+g*headDim:], ks, 0, Ph[i0*tk+j0:], tk)
			for i := i0; i < i1; i++ {
				row := Ph[i*tk : (i+1)*tk]
				lo, hi := firstKey(off+i, window), off+i+1
				softmax(row[lo:hi])
				clear(row[:lo])
				clear(row[hi:])
			}
			gemm(false, false, false, i1-i0, headDim, j1-j0, 1,
				Ph[i0*tk+j0:], tk, V[j0*ks+g*headDim:], ks, 0, O[i0*qs+h*headDim:], qs)
		}
	})
}

// softmax normalises row in place (max subtracted first).
func softmax[T float](row []T) {
	m := rowMax(row)
	rowScale(row, 1/expInto(row, row, 1, -m))
}

// AttentionBackward, per head h with kv head g, from P = softmax(S),
// S = scale·Q·Kᵀ, O = P·V:
//
//	dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
//	dQ = scale·dS·K, dK_h = scale·dSᵀ·Q, dV_h = Pᵀ·dO,
//
// then dK and dV of a kv head are the sums over its query heads (done after
// the parallel part, so heads never race on them). P is zero outside each
// row's keys, so the window only narrows the products.
func (c *cpu[T]) AttentionBackward(dq, dk, dv, dout, q, k, v, probs Buffer, t, heads, kvHeads, headDim, window int) {
	dQ, dK, dV, dO := c.s(dq), c.s(dk), c.s(dv), c.s(dout)
	Q, K, V, P := c.s(q), c.s(k), c.s(v), c.s(probs)
	qs, ks := heads*headDim, kvHeads*headDim
	grp := heads / kvHeads
	scale := T(1 / math.Sqrt(float64(headDim)))

	dsBuf := c.get(heads * t * t)
	defer c.put(dsBuf)
	kvBuf := c.get(2 * heads * t * headDim) // per-head dK, dV [t, headDim]
	defer c.put(kvBuf)
	dS, dKV := *dsBuf, *kvBuf

	parallelTasks(heads, func(h int) {
		g := h / grp
		Ph, dSh := P[h*t*t:(h+1)*t*t], dS[h*t*t:(h+1)*t*t]
		dKh := dKV[(2*h)*t*headDim : (2*h+1)*t*headDim]
		dVh := dKV[(2*h+1)*t*headDim : (2*h+2)*t*headDim]
		for i0 := 0; i0 < t; i0 += attnBlock {
			i1 := min(i0+attnBlock, t)
			j0 := firstKey(i0, window)
			gemm(false, false, true, i1-i0, i1-j0, headDim, 1,
				dO[i0*qs+h*headDim:], qs, V[j0*ks+g*headDim:], ks, 0, dSh[i0*t+j0:], t)
			for i := i0; i < i1; i++ {
				lo := firstKey(i, window)
				pr, dr := Ph[i*t+lo:i*t+i+1], dSh[i*t:(i+1)*t]
				rowSoftmaxBack(dr[lo:i+1], pr, rowDot(pr, dr[lo:i+1]))
				clear(dr[:lo])
				clear(dr[i+1:])
			}
			gemm(false, false, false, i1-i0, headDim, i1-j0, scale,
				dSh[i0*t+j0:], t, K[j0*ks+g*headDim:], ks, 0, dQ[i0*qs+h*headDim:], qs)
		}
		// Column blocks: key j receives from the query rows that see it,
		// j ≤ i < j+window.
		for j0 := 0; j0 < t; j0 += attnBlock {
			j1 := min(j0+attnBlock, t)
			i1 := t
			if window > 0 {
				i1 = min(t, j1-1+window)
			}
			gemm(false, true, false, j1-j0, headDim, i1-j0, 1,
				Ph[j0*t+j0:], t, dO[j0*qs+h*headDim:], qs, 0, dVh[j0*headDim:], headDim)
			gemm(false, true, false, j1-j0, headDim, i1-j0, scale,
				dSh[j0*t+j0:], t, Q[j0*qs+h*headDim:], qs, 0, dKh[j0*headDim:], headDim)
		}
	})

	parallelFor(t, max(1, 4096/ks), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for g := 0; g < kvHeads; g++ {
				dkr := dK[i*ks+g*headDim : i*ks+(g+1)*headDim]
				dvr := dV[i*ks+g*headDim : i*ks+(g+1)*headDim]
				clear(dkr)
				clear(dvr)
				for h := g * grp; h < (g+1)*grp; h++ {
					src := (2*h)*t*headDim + i*headDim
					for d := range dkr {
						dkr[d] += dKV[src+d]
						dvr[d] += dKV[src+t*headDim+d]
					}
				}
			}
		}
	})
}
