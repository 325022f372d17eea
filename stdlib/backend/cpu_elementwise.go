package backend

import (
	"fmt"
	"math"

	"esa/stdlib/tensor"
)

// RMSNorm follows Hugging Face's LlamaRMSNorm: out = w ⊙ (x · rstd). The sum
// of squares is accumulated in float64 so long rows lose nothing.
func (c *cpu[T]) RMSNorm(out, rstd, x Buffer, w *tensor.Tensor, rows, dim int, eps float64) {
	o, r, xs := c.s(out), c.s(rstd), c.s(x)
	W, release := c.weight(w)
	defer release()
	parallelFor(rows, max(1, 4096/dim), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := xs[i*dim : (i+1)*dim]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			rs := T(1 / math.Sqrt(ss/float64(dim)+eps))
			r[i] = rs
			or := o[i*dim : (i+1)*dim]
			for j, v := range xr {
				or[j] = W[j] * (v * rs)
			}
		}
	})
}

// RMSNormBackward: with y = w ⊙ x·r and r = (mean(x²)+eps)^-½,
// dx = r·w⊙dy − r³/dim · (Σ dy⊙w⊙x) · x and dw = Σ_rows dy⊙x·r.
func (c *cpu[T]) RMSNormBackward(dx, dw, dout, x, rstd Buffer, w *tensor.Tensor, rows, dim int) {
	dxs, dws, dy, xs, r := c.s(dx), c.s(dw), c.s(dout), c.s(x), c.s(rstd)
	W, release := c.weight(w)
	defer release()
	// Per-chunk partial gains, reduced in chunk order: deterministic bits.
	const chunk = 32
	parts := make([]T, (rows+chunk-1)/chunk*dim)
	parallelChunks(rows, chunk, func(ci, lo, hi int) {
		part := parts[ci*dim : (ci+1)*dim]
		for i := lo; i < hi; i++ {
			xr, dyr, dxr := xs[i*dim:(i+1)*dim], dy[i*dim:(i+1)*dim], dxs[i*dim:(i+1)*dim]
			rs := r[i]
			var dot T
			for j, v := range xr {
				dot += dyr[j] * W[j] * v
				part[j] += dyr[j] * v * rs
			}
			k := rs * rs * rs * dot / T(dim)
			for j, v := range xr {
				dxr[j] += rs*W[j]*dyr[j] - k*v
			}
		}
	})
	for ci := 0; ci < len(parts)/dim; ci++ {
		for j, v := range parts[ci*dim : (ci+1)*dim] {
			dws[j] += v
		}
	}
}

// Rope rotates each (a, b) pair of the first rotDim dims of every head by
// its position's angle: a' = a·cos − b·sin, b' = a·sin + b·cos (the sign of
// sin flips for inverse); dims from rotDim on pass through. Interleaved input
// is rotated and written back in half-split order (and the inverse reads
// half-split and writes interleaved), so attention always sees one layout
// and a llama2.c checkpoint computes bit for bit what its Hugging Face
// conversion computes.
func (c *cpu[T]) Rope(x, cos, sin Buffer, rows, heads, headDim, rotDim, pos0 int, interleaved, inverse bool) {
	xs, cs, sn := c.s(x), c.s(cos), c.s(sin)
	half := rotDim / 2
	width := heads * headDim
	parallelFor(rows, max(1, 8192/width), func(lo, hi int) {
		tmp := make([]T, rotDim)
		for t := lo; t < hi; t++ {
			p := (pos0 + t) * half
			cr, sr := cs[p:p+half], sn[p:p+half]
			for h := 0; h < heads; h++ {
				v := xs[t*width+h*headDim : t*width+h*headDim+rotDim]
				if !interleaved {
					for i := 0; i < half; i++ {
						co, si := cr[i], sr[i]
						if inverse {
							si = -si
						}
						a, b := v[i], v[i+half]
						v[i] = a*co - b*si
						v[i+half] = b*co + a*si
					}
					continue
				}
				copy(tmp, v)
				for i := 0; i < half; i++ {
					co, si := cr[i], sr[i]
					if inverse { // half-split in, interleaved out
						a, b := tmp[i], tmp[i+half]
						v[2*i] = a*co + b*si
						v[2*i+1] = b*co - a*si
						continue
					}
					a, b := tmp[2*i], tmp[2*i+1]
					v[i] = a*co - b*si
					v[i+half] = b*co + a*si
				}
			}
		}
	})
}

// siluChunk bounds the stack scratch of the SiLU loops.
const siluChunk = 512

// SwiGLU sets out = silu(gate)·up with silu(g) = g/(1+e^-g).
func (c *cpu[T]) SwiGLU(out, gate, up Buffer, n int) {
	o, g, u := c.s(out), c.s(gate), c.s(up)
	parallelFor(n, 1<<14, func(lo, hi int) {
		var buf [siluChunk]T
		for i0 := lo; i0 < hi; i0 += siluChunk {
			i1 := min(i0+siluChunk, hi)
			e := buf[:i1-i0]
			expInto(e, g[i0:i1], -1, 0)
			for j, ej := range e {
				i := i0 + j
				o[i] = g[i] / (1 + ej) * u[i]
			}
		}
	})
}

// SwiGLUBackward: with s = σ(g), d silu/dg = s·(1 + g·(1−s)).
func (c *cpu[T]) SwiGLUBackward(dgate, dup, dout, gate, up Buffer, n int) {
	dg, du, dy, g, u := c.s(dgate), c.s(dup), c.s(dout), c.s(gate), c.s(up)
	parallelFor(n, 1<<14, func(lo, hi int) {
		var buf [siluChunk]T
		for i0 := lo; i0 < hi; i0 += siluChunk {
			i1 := min(i0+siluChunk, hi)
			e := buf[:i1-i0]
			expInto(e, g[i0:i1], -1, 0)
			for j, ej := range e {
				i := i0 + j
				s := 1 / (1 + ej)
				du[i] = dy[i] * g[i] * s
				dg[i] = dy[i] * u[i] * s * (1 + g[i]*(1-s))
			}
		}
	})
}

// CrossEntropy computes each row's log-sum-exp with the max subtracted and
// the exponentials summed in float64.
func (c *cpu[T]) CrossEntropy(dlogits, logits Buffer, targets []int, rows, vocab int) float64 {
	z := c.s(logits)
	var dz []T
	if dlogits != nil {
		dz = c.s(dlogits)
	}
	for r := 0; r < rows; r++ {
		if targets[r] >= vocab {
			panic(fmt.Sprintf("backend: target %d at row %d outside vocabulary of %d", targets[r], r, vocab))
		}
	}
	// Per-row losses summed in row order: deterministic bits.
	nll := make([]float64, rows)
	parallelFor(rows, max(1, 1<<15/vocab), func(lo, hi int) {
		var tmp []T
		for r := lo; r < hi; r++ {
			zr := z[r*vocab : (r+1)*vocab]
			tgt := targets[r]
			var dr []T
			if dz != nil {
				dr = dz[r*vocab : (r+1)*vocab]
			}
			if tgt < 0 {
				clear(dr)
				continue
			}
			if dr == nil {
				if tmp == nil {
					tmp = make([]T, vocab)
				}
				dr = tmp
			}
			m, zt := rowMax(zr), zr[tgt] // read before dr may overwrite zr
			expInto(dr, zr, 1, -m)
			var se float64 // the normaliser in float64: vocabularies are long
			for _, e := range dr {
				se += float64(e)
			}
			nll[r] = float64(m) + math.Log(se) - float64(zt)
			if dz != nil {
				rowScale(dr, T(1/se))
				dr[tgt]--
			}
		}
	})
	var total float64
	for _, v := range nll {
		total += v
	}
	return total
}
