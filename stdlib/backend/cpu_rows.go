package backend

// Row rearrangements: GPT-NeoX's fused per-head q/k/v layout, and the row
// gather and scatter of mixture-of-experts routing.

// SplitQKV copies qkv [rows, heads·3·headDim] (per head: q, k, v) into q, k
// and v [rows, heads·headDim].
func (c *cpu[T]) SplitQKV(q, k, v, qkv Buffer, rows, heads, headDim int) {
	Q, K, V, F := c.s(q), c.s(k), c.s(v), c.s(qkv)
	for rh := 0; rh < rows*heads; rh++ {
		src := F[rh*3*headDim : (rh+1)*3*headDim]
		dst := rh * headDim
		copy(Q[dst:dst+headDim], src[:headDim])
		copy(K[dst:dst+headDim], src[headDim:2*headDim])
		copy(V[dst:dst+headDim], src[2*headDim:])
	}
}

// MergeQKV is SplitQKV's inverse: it sets qkv from q, k and v.
func (c *cpu[T]) MergeQKV(qkv, q, k, v Buffer, rows, heads, headDim int) {
	Q, K, V, F := c.s(q), c.s(k), c.s(v), c.s(qkv)
	for rh := 0; rh < rows*heads; rh++ {
		dst := F[rh*3*headDim : (rh+1)*3*headDim]
		src := rh * headDim
		copy(dst[:headDim], Q[src:src+headDim])
		copy(dst[headDim:2*headDim], K[src:src+headDim])
		copy(dst[2*headDim:], V[src:src+headDim])
	}
}

// GatherRows sets dst[i] = scale[i]·src[rows[i]] (scale nil: 1).
func (c *cpu[T]) GatherRows(dst, src Buffer, rows []int, scale []float64, dim int) {
	d, s := c.s(dst), c.s(src)
	for i, r := range rows {
		di := d[i*dim : (i+1)*dim]
		copy(di, s[r*dim:(r+1)*dim])
		if scale != nil {
			a := T(scale[i])
			for j := range di {
				di[j] *= a
			}
		}
	}
}

// ScatterAddRows adds scale[i]·src[i] to dst[rows[i]] (scale nil: 1), in
// the order of rows.
func (c *cpu[T]) ScatterAddRows(dst, src Buffer, rows []int, scale []float64, dim int) {
	d, s := c.s(dst), c.s(src)
	for i, r := range rows {
		dr, si := d[r*dim:(r+1)*dim], s[i*dim:(i+1)*dim]
		if scale == nil {
			for j, v := range si {
				dr[j] += v
			}
			continue
		}
		a := T(scale[i])
		for j, v := range si {
			dr[j] += a * v
		}
	}
}

// RowDots sets out[i] = Σ_j a[rows[i]][j]·b[i][j], summed in float64.
func (c *cpu[T]) RowDots(out []float64, a, b Buffer, rows []int, dim int) {
	A, B := c.s(a), c.s(b)
	for i, r := range rows {
		var s float64
		for j, v := range B[i*dim : (i+1)*dim] {
			s += float64(A[r*dim+j]) * float64(v)
		}
		out[i] = s
	}
}
