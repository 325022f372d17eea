package backend

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"esa/stdlib/tensor"
)

func f64Tensor(name string, v []float64) *tensor.Tensor {
	t := tensor.New(name, tensor.F64, len(v))
	for i, x := range v {
		t.Set(i, x)
	}
	return t
}

// TestLayerNormAndGELU checks the GPT-NeoX ops on the float64 backend
// against the formulas written out and their gradients against central
// differences of Σ r⊙f, then the float32 backend against float64.
func TestLayerNormAndGELU(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	rows, dim := 70, 24 // more rows than one reduction chunk
	const eps = 1e-5
	x := randSlice(rng, rows*dim)
	for i := range x {
		x[i] = 3*x[i] + 0.5 // a mean and a scale to remove
	}
	wv, bv := randSlice(rng, dim), randSlice(rng, dim)
	r := randSlice(rng, rows*dim)
	be := CPU64()
	h := be.(Host64)
	up := func(v []float64) Buffer { b := be.Alloc(len(v)); h.Upload64(b, v); return b }
	down := func(b Buffer) []float64 { v := make([]float64, b.Len()); h.Download64(v, b); return v }

	ln := func(x, wv, bv []float64) []float64 {
		out := make([]float64, len(x))
		for i := 0; i < rows; i++ {
			xr := x[i*dim : (i+1)*dim]
			var m, v float64
			for _, a := range xr {
				m += a / float64(dim)
			}
			for _, a := range xr {
				v += (a - m) * (a - m) / float64(dim)
			}
			for j, a := range xr {
				out[i*dim+j] = (a-m)/math.Sqrt(v+eps)*wv[j] + bv[j]
			}
		}
		return out
	}
	obj := func() float64 {
		var s float64
		for i, v := range ln(x, wv, bv) {
			s += r[i] * v
		}
		return s
	}
	w, b := f64Tensor("w", wv), f64Tensor("b", bv)
	xb, out, mean, rstd := up(x), be.Alloc(rows*dim), be.Alloc(rows), be.Alloc(rows)
	be.LayerNorm(out, mean, rstd, xb, w, b, rows, dim, eps)
	for i, want := range ln(x, wv, bv) {
		if got := down(out)[i]; math.Abs(got-want) > 1e-12 {
			t.Fatalf("LayerNorm[%d] = %g, want %g", i, got, want)
		}
	}
	dx, dw, db := be.Alloc(rows*dim), be.Alloc(dim), be.Alloc(dim)
	be.LayerNormBackward(dx, dw, db, up(r), xb, mean, rstd, w, rows, dim)
	for _, c := range []struct {
		name string
		val  []float64
		grad []float64
	}{{"x", x, down(dx)}, {"w", wv, down(dw)}, {"b", bv, down(db)}} {
		for k := 0; k < 20; k++ {
			i := rng.IntN(len(c.val))
			const step = 1e-5
			x0 := c.val[i]
			c.val[i] = x0 + step
			fp := obj()
			c.val[i] = x0 - step
			fm := obj()
			c.val[i] = x0
			if fd := (fp - fm) / (2 * step); math.Abs(fd-c.grad[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("LayerNorm d%s[%d] = %.10g, finite difference %.10g", c.name, i, c.grad[i], fd)
			}
		}
	}

	// GELU: known values, and the derivative against central differences.
	gx := []float64{-3, -1, -0.1, 0, 0.5, 1, 2.5}
	gout := be.Alloc(len(gx))
	be.GELU(gout, up(gx), len(gx))
	for i, v := range gx {
		if want := v * 0.5 * math.Erfc(-v/math.Sqrt2); math.Abs(down(gout)[i]-want) > 1e-15 {
			t.Errorf("GELU(%g) = %g, want %g", v, down(gout)[i], want)
		}
	}
	if g1 := down(gout)[5]; math.Abs(g1-0.8413447460685429) > 1e-15 {
		t.Errorf("GELU(1) = %.17g", g1)
	}
	ones := make([]float64, len(gx))
	for i := range ones {
		ones[i] = 1
	}
	gd := be.Alloc(len(gx))
	be.GELUBackward(gd, up(ones), up(gx), len(gx))
	for i, v := range gx {
		f := func(a float64) float64 { return a * 0.5 * math.Erfc(-a/math.Sqrt2) }
		if fd := (f(v+1e-6) - f(v-1e-6)) / 2e-6; math.Abs(fd-down(gd)[i]) > 1e-8 {
			t.Errorf("GELU'(%g) = %g, finite difference %g", v, down(gd)[i], fd)
		}
	}

	// float32 agrees with float64.
	be32 := CPU()
	h32 := be32.(Host64)
	up32 := func(v []float64) Buffer { b := be32.Alloc(len(v)); h32.Upload64(b, v); return b }
	o32, m32, r32 := be32.Alloc(rows*dim), be32.Alloc(rows), be32.Alloc(rows)
	x32 := up32(x)
	be32.LayerNorm(o32, m32, r32, x32, w, b, rows, dim, eps)
	dx32, dw32, db32 := be32.Alloc(rows*dim), be32.Alloc(dim), be32.Alloc(dim)
	be32.LayerNormBackward(dx32, dw32, db32, up32(r), x32, m32, r32, w, rows, dim)
	for _, p := range [][2]Buffer{{out, o32}, {dx, dx32}, {dw, dw32}, {db, db32}} {
		a, c := down(p[0]), make([]float64, p[1].Len())
		h32.Download64(c, p[1])
		for i := range a {
			if math.Abs(a[i]-c[i]) > 1e-4*math.Max(1, math.Abs(a[i])) {
				t.Fatalf("float32 %g vs float64 %g at %d", c[i], a[i], i)
			}
		}
	}
}

// TestBiasAndRows checks bias add and its gradient, the fused q/k/v split
// and merge, and the routing gather/scatter against plain loops.
func TestBiasAndRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, be := range []Backend{CPU(), CPU64()} {
		h := be.(Host64)
		up := func(v []float64) Buffer { b := be.Alloc(len(v)); h.Upload64(b, v); return b }
		down := func(b Buffer) []float64 { v := make([]float64, b.Len()); h.Download64(v, b); return v }
		near := func(what string, got, want []float64) {
			t.Helper()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-5*math.Max(1, math.Abs(want[i])) {
					t.Fatalf("%s %s[%d] = %g, want %g", be.Name(), what, i, got[i], want[i])
				}
			}
		}
		rows, cols := 9, 13
		y, bv := randSlice(rng, rows*cols), randSlice(rng, cols)
		yb := up(y)
		be.AddBias(yb, f64Tensor("b", bv), rows, cols)
		want := slices.Clone(y)
		sums := make([]float64, cols)
		for i := range want {
			want[i] += bv[i%cols]
			sums[i%cols] += y[i]
		}
		near("AddBias", down(yb), want)
		db := up(bv)
		be.BiasBackward(db, up(y), rows, cols)
		for j := range sums {
			sums[j] += bv[j]
		}
		near("BiasBackward", down(db), sums)

		// Per head the fused row holds q, k, v of headDim each.
		heads, hd := 3, 4
		qkv := randSlice(rng, rows*heads*3*hd)
		q, k, v := be.Alloc(rows*heads*hd), be.Alloc(rows*heads*hd), be.Alloc(rows*heads*hd)
		be.SplitQKV(q, k, v, up(qkv), rows, heads, hd)
		stored := down(up(qkv)) // qkv in the backend's precision: the split only moves values
		for part, b := range []Buffer{q, k, v} {
			got := down(b)
			for rh := 0; rh < rows*heads; rh++ {
				for d := 0; d < hd; d++ {
					if got[rh*hd+d] != stored[(rh*3+part)*hd+d] {
						t.Fatalf("%s SplitQKV part %d row·head %d dim %d", be.Name(), part, rh, d)
					}
				}
			}
		}
		back := be.Alloc(len(qkv))
		be.MergeQKV(back, q, k, v, rows, heads, hd)
		near("MergeQKV∘SplitQKV", down(back), qkv)

		dim := 5
		src := randSlice(rng, rows*dim)
		idx := []int{4, 0, 4, 8}
		scale := []float64{0.5, 2, -1, 0.25}
		g := be.Alloc(len(idx) * dim)
		be.GatherRows(g, up(src), idx, scale, dim)
		gw := make([]float64, len(idx)*dim)
		for i, r := range idx {
			for j := 0; j < dim; j++ {
				gw[i*dim+j] = scale[i] * src[r*dim+j]
			}
		}
		near("GatherRows", down(g), gw)
		dst := randSlice(rng, rows*dim)
		db2 := up(dst)
		be.ScatterAddRows(db2, g, idx, scale, dim)
		dw := slices.Clone(dst)
		for i, r := range idx {
			for j := 0; j < dim; j++ {
				dw[r*dim+j] += scale[i] * gw[i*dim+j]
			}
		}
		near("ScatterAddRows", down(db2), dw)
		dots := make([]float64, len(idx))
		be.RowDots(dots, up(dst), g, idx, dim)
		for i, r := range idx {
			var s float64
			for j := 0; j < dim; j++ {
				s += dst[r*dim+j] * gw[i*dim+j]
			}
			if math.Abs(dots[i]-s) > 1e-5*math.Max(1, math.Abs(s)) {
				t.Fatalf("%s RowDots[%d] = %g, want %g", be.Name(), i, dots[i], s)
			}
		}
	}
}

// TestPartialRope: with rotDim < headDim the first rotDim dims of each head
// turn exactly as a head of rotDim dims would, the rest pass through, and
// the inverse restores the input.
func TestPartialRope(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	rows, heads, hd, rot, pos0 := 6, 3, 10, 4, 2
	be := CPU64()
	h := be.(Host64)
	up := func(v []float64) Buffer { b := be.Alloc(len(v)); h.Upload64(b, v); return b }
	down := func(b Buffer) []float64 { v := make([]float64, b.Len()); h.Download64(v, b); return v }
	npos := pos0 + rows
	cs, sn := make([]float64, npos*rot/2), make([]float64, npos*rot/2)
	for p := 0; p < npos; p++ {
		for i := 0; i < rot/2; i++ {
			a := float64(p) / math.Pow(100, float64(2*i)/float64(rot))
			cs[p*rot/2+i], sn[p*rot/2+i] = math.Cos(a), math.Sin(a)
		}
	}
	x := randSlice(rng, rows*heads*hd)
	xb := up(x)
	be.Rope(xb, up(cs), up(sn), rows, heads, hd, rot, pos0, false, false)
	got := down(xb)
	sub := make([]float64, rows*heads*rot) // the rotated dims as heads of rot
	for rh := 0; rh < rows*heads; rh++ {
		copy(sub[rh*rot:(rh+1)*rot], x[rh*hd:rh*hd+rot])
	}
	sb := up(sub)
	be.Rope(sb, up(cs), up(sn), rows, heads, rot, rot, pos0, false, false)
	want := down(sb)
	for rh := 0; rh < rows*heads; rh++ {
		for d := 0; d < hd; d++ {
			w := x[rh*hd+d]
			if d < rot {
				w = want[rh*rot+d]
			}
			if got[rh*hd+d] != w {
				t.Fatalf("row·head %d dim %d: %g, want %g", rh, d, got[rh*hd+d], w)
			}
		}
	}
	be.Rope(xb, up(cs), up(sn), rows, heads, hd, rot, pos0, false, true)
	for i, v := range down(xb) {
		if math.Abs(v-x[i]) > 1e-14 {
			t.Fatalf("inverse left %g at %d, want %g", v, i, x[i])
		}
	}
}
