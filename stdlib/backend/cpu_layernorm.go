package backend

import (
	"math"

	"esa/stdlib/tensor"
)

// The ops of the GPT-NeoX family: LayerNorm with bias, bias add and its
// gradient, and the exact (erf) GELU.

// LayerNorm is nn.LayerNorm with the biased variance; mean and variance are
// accumulated in float64.
func (c *cpu[T]) LayerNorm(out, mean, rstd, x Buffer, w, b *tensor.Tensor, rows, dim int, eps float64) {
	o, mu, rs, xs := c.s(out), c.s(mean), c.s(rstd), c.s(x)
	W, relW := c.weight(w)
	defer relW()
	B, relB := c.weight(b)
	defer relB()
	parallelFor(rows, max(1, 4096/dim), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr := xs[i*dim : (i+1)*dim]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			m := s / float64(dim)
			var ss float64
			for _, v := range xr {
				d := float64(v) - m
				ss += d * d
			}
			r := 1 / math.Sqrt(ss/float64(dim)+eps)
			mu[i], rs[i] = T(m), T(r)
			or := o[i*dim : (i+1)*dim]
			for j, v := range xr {
				or[j] = T((float64(v)-m)*r)*W[j] + B[j]
			}
		}
	})
}

// LayerNormBackward: with x̂ = (x−μ)·rstd and g = dout ⊙ w,
// dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), dw += Σ dout ⊙ x̂,
// db += Σ dout. The gain and bias sums are reduced per chunk of rows in chunk
// order, so the bits do not depend on scheduling.
func (c *cpu[T]) LayerNormBackward(dx, dw, db, dout, x, mean, rstd Buffer, w *tensor.Tensor, rows, dim int) {
	dxs, dws, dbs, dy, xs, mu, rs := c.s(dx), c.s(dw), c.s(db), c.s(dout), c.s(x), c.s(mean), c.s(rstd)
	W, release := c.weight(w)
	defer release()
	const chunk = 32
	nc := (rows + chunk - 1) / chunk
	parts := make([]T, 2*nc*dim) // per chunk: dw part, db part
	parallelChunks(rows, chunk, func(ci, lo, hi int) {
		pw, pb := parts[2*ci*dim:(2*ci+1)*dim], parts[(2*ci+1)*dim:(2*ci+2)*dim]
		for i := lo; i < hi; i++ {
			xr, dyr, dxr := xs[i*dim:(i+1)*dim], dy[i*dim:(i+1)*dim], dxs[i*dim:(i+1)*dim]
			m, r := float64(mu[i]), float64(rs[i])
			var mg, mgx float64
			for j, v := range xr {
				xh := (float64(v) - m) * r
				g := float64(dyr[j]) * float64(W[j])
				mg += g
				mgx += g * xh
				pw[j] += T(float64(dyr[j]) * xh)
				pb[j] += dyr[j]
			}
			mg /= float64(dim)
			mgx /= float64(dim)
			for j, v := range xr {
				xh := (float64(v) - m) * r
				g := float64(dyr[j]) * float64(W[j])
				dxr[j] += T(r * (g - mg - xh*mgx))
			}
		}
	})
	for ci := 0; ci < nc; ci++ {
		for j := 0; j < dim; j++ {
			dws[j] += parts[2*ci*dim+j]
			dbs[j] += parts[(2*ci+1)*dim+j]
		}
	}
}

// AddBias adds b to every row of y.
func (c *cpu[T]) AddBias(y Buffer, b *tensor.Tensor, rows, cols int) {
	ys := c.s(y)
	B, release := c.weight(b)
	defer release()
	parallelFor(rows, max(1, 8192/cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yr := ys[i*cols : (i+1)*cols]
			for j := range yr {
				yr[j] += B[j]
			}
		}
	})
}

// BiasBackward adds the column sums of dy to db; each column is summed in
// row order by one goroutine.
func (c *cpu[T]) BiasBackward(db, dy Buffer, rows, cols int) {
	d, g := c.s(db), c.s(dy)
	parallelFor(cols, max(1, 8192/max(rows, 1)), func(lo, hi int) {
		for i := 0; i < rows; i++ {
			gr := g[i*cols+lo : i*cols+hi]
			for j, v := range gr {
				d[lo+j] += v
			}
		}
	})
}

// GELU is x·Φ(x) with the normal CDF from erf (transformers' "gelu").
func (c *cpu[T]) GELU(out, x Buffer, n int) {
	o, xs := c.s(out), c.s(x)
	parallelFor(n, 1<<13, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f := float64(xs[i])
			o[i] = T(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
		}
	})
}

// GELUBackward: d/dx x·Φ(x) = Φ(x) + x·φ(x).
func (c *cpu[T]) GELUBackward(dx, dout, x Buffer, n int) {
	d, dy, xs := c.s(dx), c.s(dout), c.s(x)
	parallelFor(n, 1<<13, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f := float64(xs[i])
			cdf := 0.5 * (1 + math.Erf(f/math.Sqrt2))
			pdf := math.Exp(-0.5*f*f) / math.Sqrt(2*math.Pi)
			d[i] = T(float64(dy[i]) * (cdf + f*pdf))
		}
	})
}
