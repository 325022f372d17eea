package model

import (
	"math"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// Ops the GPT-NeoX and Mixtral families need that backend.Backend does not
// offer yet (LayerNorm with bias, bias add, exact GELU, the per-head
// fused-qkv split, the partial-rotary gather, and the row gather/scatter of
// mixture-of-experts routing). They run on host memory: in place on the
// float32 CPU backend's buffers, through float64 copies (Download64/Upload64)
// on any other backend with Host64 (the float64 reference). A GPU backend
// needs them as backend ops; each is written as one kernel-sized call so that
// moving it into the Backend interface is mechanical.

// hostFloat is the element type of the host views below.
type hostFloat interface{ float32 | float64 }

// onHost runs fn on host views of bufs (each of its first n[i] elements) and
// writes back the views listed in out. Float32 CPU buffers are aliased, so fn
// works in place; otherwise the values go through float64 copies.
func onHost(be backend.Backend, bufs []backend.Buffer, n []int, out []int, fn32 func([][]float32), fn64 func([][]float64)) {
	v32 := make([][]float32, len(bufs))
	aliased := true
	for i, b := range bufs {
		x, ok := backend.HostF32(b)
		if !ok {
			aliased = false
			break
		}
		v32[i] = x[:n[i]]
	}
	if aliased {
		fn32(v32)
		return
	}
	h, ok := be.(backend.Host64)
	if !ok {
		panic("model: backend " + be.Name() + " has neither host float32 buffers nor Host64, which the host ops need")
	}
	v64 := make([][]float64, len(bufs))
	for i, b := range bufs {
		v64[i] = make([]float64, n[i])
		h.Download64(v64[i], b)
	}
	fn64(v64)
	for _, i := range out {
		h.Upload64(bufs[i], v64[i])
	}
}

// vec64 returns a 1-D parameter (LayerNorm gain or bias, a bias) as float64.
func vec64(t *tensor.Tensor) []float64 {
	v := make([]float64, t.Len())
	for i := range v {
		v[i] = t.At(i)
	}
	return v
}

// layerNorm sets out = (x − mean)·rstd ⊙ w + b per row (nn.LayerNorm, biased
// variance), saving mean and rstd [rows] for the backward.
func layerNorm(be backend.Backend, out, mean, rstd, x backend.Buffer, w, b *tensor.Tensor, rows, dim int, eps float64) {
	wv, bv := vec64(w), vec64(b)
	n := rows * dim
	onHost(be, []backend.Buffer{out, mean, rstd, x}, []int{n, rows, rows, n}, []int{0, 1, 2},
		func(v [][]float32) { layerNormRows(v[0], v[1], v[2], v[3], wv, bv, rows, dim, eps) },
		func(v [][]float64) { layerNormRows(v[0], v[1], v[2], v[3], wv, bv, rows, dim, eps) })
}

func layerNormRows[T hostFloat](out, mean, rstd, x []T, w, b []float64, rows, dim int, eps float64) {
	for r := 0; r < rows; r++ {
		xr := x[r*dim : (r+1)*dim]
		var mu float64
		for _, v := range xr {
			mu += float64(v)
		}
		mu /= float64(dim)
		var vr float64
		for _, v := range xr {
			d := float64(v) - mu
			vr += d * d
		}
		rs := 1 / math.Sqrt(vr/float64(dim)+eps)
		mean[r], rstd[r] = T(mu), T(rs)
		or := out[r*dim : (r+1)*dim]
		for j, v := range xr {
			or[j] = T((float64(v)-mu)*rs*w[j] + b[j])
		}
	}
}

// layerNormBackward adds the input gradient to dx and the gain and bias
// gradients to dw and db, from the forward's x, mean and rstd:
// with x̂ = (x−μ)·rstd and g = dout ⊙ w,
// dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), dw += Σ dout ⊙ x̂, db += Σ dout.
func layerNormBackward(be backend.Backend, dx, dw, db, dout, x, mean, rstd backend.Buffer, w *tensor.Tensor, rows, dim int) {
	wv := vec64(w)
	n := rows * dim
	onHost(be, []backend.Buffer{dx, dw, db, dout, x, mean, rstd}, []int{n, dim, dim, n, n, rows, rows}, []int{0, 1, 2},
		func(v [][]float32) { layerNormBackRows(v[0], v[1], v[2], v[3], v[4], v[5], v[6], wv, rows, dim) },
		func(v [][]float64) { layerNormBackRows(v[0], v[1], v[2], v[3], v[4], v[5], v[6], wv, rows, dim) })
}

func layerNormBackRows[T hostFloat](dx, dw, db, dout, x, mean, rstd []T, w []float64, rows, dim int) {
	for r := 0; r < rows; r++ {
		xr, dr, dxr := x[r*dim:(r+1)*dim], dout[r*dim:(r+1)*dim], dx[r*dim:(r+1)*dim]
		mu, rs := float64(mean[r]), float64(rstd[r])
		var mg, mgx float64
		for j := range xr {
			xh := (float64(xr[j]) - mu) * rs
			g := float64(dr[j]) * w[j]
			mg += g
			mgx += g * xh
			dw[j] += T(float64(dr[j]) * xh)
			db[j] += dr[j]
		}
		mg /= float64(dim)
		mgx /= float64(dim)
		for j := range xr {
			xh := (float64(xr[j]) - mu) * rs
			g := float64(dr[j]) * w[j]
			dxr[j] += T(rs * (g - mg - xh*mgx))
		}
	}
}

// addBias adds the bias b [cols] to every row of y [rows, cols].
func addBias(be backend.Backend, y backend.Buffer, b *tensor.Tensor, rows, cols int) {
	bv := vec64(b)
	onHost(be, []backend.Buffer{y}, []int{rows * cols}, []int{0},
		func(v [][]float32) { addBiasRows(v[0], bv, rows, cols) },
		func(v [][]float64) { addBiasRows(v[0], bv, rows, cols) })
}

func addBiasRows[T hostFloat](y []T, b []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		yr := y[r*cols : (r+1)*cols]
		for j := range yr {
			yr[j] += T(b[j])
		}
	}
}

// biasBackward adds the column sums of dy [rows, cols] to db.
func biasBackward(be backend.Backend, db, dy backend.Buffer, rows, cols int) {
	onHost(be, []backend.Buffer{db, dy}, []int{cols, rows * cols}, []int{0},
		func(v [][]float32) { colSums(v[0], v[1], rows, cols) },
		func(v [][]float64) { colSums(v[0], v[1], rows, cols) })
}

func colSums[T hostFloat](db, dy []T, rows, cols int) {
	for r := 0; r < rows; r++ {
		for j, v := range dy[r*cols : (r+1)*cols] {
			db[j] += v
		}
	}
}

// gelu sets out = x·Φ(x) (exact, erf-based: transformers' "gelu").
func gelu(be backend.Backend, out, x backend.Buffer, n int) {
	onHost(be, []backend.Buffer{out, x}, []int{n, n}, []int{0},
		func(v [][]float32) { geluElems(v[0], v[1]) },
		func(v [][]float64) { geluElems(v[0], v[1]) })
}

func geluElems[T hostFloat](out, x []T) {
	for i, v := range x {
		f := float64(v)
		out[i] = T(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
	}
}

// geluBackward sets dx = dout · (Φ(x) + x·φ(x)).
func geluBackward(be backend.Backend, dx, dout, x backend.Buffer, n int) {
	onHost(be, []backend.Buffer{dx, dout, x}, []int{n, n, n}, []int{0},
		func(v [][]float32) { geluBackElems(v[0], v[1], v[2]) },
		func(v [][]float64) { geluBackElems(v[0], v[1], v[2]) })
}

func geluBackElems[T hostFloat](dx, dout, x []T) {
	for i, v := range x {
		f := float64(v)
		cdf := 0.5 * (1 + math.Erf(f/math.Sqrt2))
		pdf := math.Exp(-0.5*f*f) / math.Sqrt(2*math.Pi)
		dx[i] = T(float64(dout[i]) * (cdf + f*pdf))
	}
}

// splitHeadsQKV copies GPT-NeoX's fused projection output qkv [rows,
// heads·3·headDim] (per head: q, k, v of headDim each) into q, k and v
// [rows, heads·headDim]; with inverse it gathers dq, dk, dv back into dqkv.
func splitHeadsQKV(be backend.Backend, qkv, q, k, v backend.Buffer, rows, heads, headDim int, inverse bool) {
	n := rows * heads * headDim
	out := []int{1, 2, 3}
	if inverse {
		out = []int{0}
	}
	onHost(be, []backend.Buffer{qkv, q, k, v}, []int{3 * n, n, n, n}, out,
		func(b [][]float32) { splitQKV(b[0], b[1], b[2], b[3], rows, heads, headDim, inverse) },
		func(b [][]float64) { splitQKV(b[0], b[1], b[2], b[3], rows, heads, headDim, inverse) })
}

func splitQKV[T hostFloat](qkv, q, k, v []T, rows, heads, hd int, inverse bool) {
	for r := 0; r < rows; r++ {
		for h := 0; h < heads; h++ {
			src := qkv[(r*heads+h)*3*hd:]
			dst := (r*heads + h) * hd
			parts := [3][]T{q[dst : dst+hd], k[dst : dst+hd], v[dst : dst+hd]}
			for p, part := range parts {
				if inverse {
					copy(src[p*hd:(p+1)*hd], part)
				} else {
					copy(part, src[p*hd:(p+1)*hd])
				}
			}
		}
	}
}

// rotaryPart copies the first rot dims of every head of x [rows,
// heads·headDim] into part [rows, heads·rot] (partial rotary), or back with
// inverse, so that the backend's Rope can rotate them as heads of size rot.
func rotaryPart(be backend.Backend, x, part backend.Buffer, rows, heads, headDim, rot int, inverse bool) {
	out := []int{1}
	if inverse {
		out = []int{0}
	}
	onHost(be, []backend.Buffer{x, part}, []int{rows * heads * headDim, rows * heads * rot}, out,
		func(b [][]float32) { rotCopy(b[0], b[1], rows*heads, headDim, rot, inverse) },
		func(b [][]float64) { rotCopy(b[0], b[1], rows*heads, headDim, rot, inverse) })
}

func rotCopy[T hostFloat](x, part []T, n, hd, rot int, inverse bool) {
	for i := 0; i < n; i++ {
		if inverse {
			copy(x[i*hd:i*hd+rot], part[i*rot:(i+1)*rot])
		} else {
			copy(part[i*rot:(i+1)*rot], x[i*hd:i*hd+rot])
		}
	}
}

// gatherRows sets dst[i] = src[rows[i]] (times scale[i] unless scale is nil)
// for rows of dim elements.
func gatherRows(be backend.Backend, dst, src backend.Buffer, rows []int, scale []float64, srcRows, dim int) {
	onHost(be, []backend.Buffer{dst, src}, []int{len(rows) * dim, srcRows * dim}, []int{0},
		func(b [][]float32) { gather(b[0], b[1], rows, scale, dim) },
		func(b [][]float64) { gather(b[0], b[1], rows, scale, dim) })
}

func gather[T hostFloat](dst, src []T, rows []int, scale []float64, dim int) {
	for i, r := range rows {
		d := dst[i*dim : (i+1)*dim]
		copy(d, src[r*dim:(r+1)*dim])
		if scale != nil {
			for j := range d {
				d[j] = T(scale[i] * float64(d[j]))
			}
		}
	}
}

// scatterAddRows adds scale[i]·src[i] to dst[rows[i]] for rows of dim elements.
func scatterAddRows(be backend.Backend, dst, src backend.Buffer, rows []int, scale []float64, dstRows, dim int) {
	onHost(be, []backend.Buffer{dst, src}, []int{dstRows * dim, len(rows) * dim}, []int{0},
		func(b [][]float32) { scatterAdd(b[0], b[1], rows, scale, dim) },
		func(b [][]float64) { scatterAdd(b[0], b[1], rows, scale, dim) })
}

func scatterAdd[T hostFloat](dst, src []T, rows []int, scale []float64, dim int) {
	for i, r := range rows {
		d, s := dst[r*dim:(r+1)*dim], src[i*dim:(i+1)*dim]
		for j, v := range s {
			d[j] += T(scale[i] * float64(v))
		}
	}
}

// rowDots returns Σ_j a[rows[i]][j]·b[i][j] for each i: the gradient of a
// row's scale factor in scatterAddRows (a = output gradient, b = src).
func rowDots(be backend.Backend, a, b backend.Buffer, rows []int, aRows, dim int) []float64 {
	out := make([]float64, len(rows))
	onHost(be, []backend.Buffer{a, b}, []int{aRows * dim, len(rows) * dim}, nil,
		func(v [][]float32) { dots(out, v[0], v[1], rows, dim) },
		func(v [][]float64) { dots(out, v[0], v[1], rows, dim) })
	return out
}

func dots[T hostFloat](out []float64, a, b []T, rows []int, dim int) {
	for i, r := range rows {
		var s float64
		for j, v := range b[i*dim : (i+1)*dim] {
			s += float64(a[r*dim+j]) * float64(v)
		}
		out[i] = s
	}
}

// download64 returns the first n values of b as float64.
func download64(be backend.Backend, b backend.Buffer, n int) []float64 {
	out := make([]float64, n)
	onHost(be, []backend.Buffer{b}, []int{n}, nil,
		func(v [][]float32) {
			for i, x := range v[0] {
				out[i] = float64(x)
			}
		},
		func(v [][]float64) { copy(out, v[0]) })
	return out
}

// upload64 sets the first len(v) values of b from v.
func upload64(be backend.Backend, b backend.Buffer, v []float64) {
	onHost(be, []backend.Buffer{b}, []int{len(v)}, []int{0},
		func(d [][]float32) {
			for i, x := range v {
				d[0][i] = float32(x)
			}
		},
		func(d [][]float64) { copy(d[0], v) })
}

// windowAttention is backend.Attention (tq = tk = t, positions 0..t-1) with
// a sliding window: query i attends to keys j with i−window < j ≤ i (Mistral
// and Phi-3, as their HF causal masks do). probs [heads, t, t] receives the
// probabilities with zeros outside the window, so backend.AttentionBackward
// is its exact backward.
func windowAttention(be backend.Backend, out, probs, q, k, v backend.Buffer, t, heads, kvHeads, headDim, window int) {
	qs, ks := heads*headDim, kvHeads*headDim
	onHost(be, []backend.Buffer{out, probs, q, k, v}, []int{t * qs, heads * t * t, t * qs, t * ks, t * ks}, []int{0, 1},
		func(b [][]float32) { windowAttn(b[0], b[1], b[2], b[3], b[4], t, heads, kvHeads, headDim, window) },
		func(b [][]float64) { windowAttn(b[0], b[1], b[2], b[3], b[4], t, heads, kvHeads, headDim, window) })
}

func windowAttn[T hostFloat](out, probs, q, k, v []T, t, heads, kvHeads, hd, window int) {
	qs, ks := heads*hd, kvHeads*hd
	grp := heads / kvHeads
	scale := 1 / math.Sqrt(float64(hd))
	clear(probs)
	for h := 0; h < heads; h++ {
		g := h / grp
		for i := 0; i < t; i++ {
			j0 := max(0, i-window+1)
			row := probs[(h*t+i)*t : (h*t+i+1)*t]
			qi := q[i*qs+h*hd : i*qs+(h+1)*hd]
			mx := math.Inf(-1)
			s := make([]float64, i+1-j0)
			for j := j0; j <= i; j++ {
				kj := k[j*ks+g*hd : j*ks+(g+1)*hd]
				var d float64
				for x := range qi {
					d += float64(qi[x]) * float64(kj[x])
				}
				s[j-j0] = d * scale
				mx = math.Max(mx, s[j-j0])
			}
			var sum float64
			for x := range s {
				s[x] = math.Exp(s[x] - mx)
				sum += s[x]
			}
			oi := out[i*qs+h*hd : i*qs+(h+1)*hd]
			acc := make([]float64, hd)
			for j := j0; j <= i; j++ {
				p := s[j-j0] / sum
				row[j] = T(p)
				vj := v[j*ks+g*hd : j*ks+(g+1)*hd]
				for x := range acc {
					acc[x] += p * float64(vj[x])
				}
			}
			for x := range oi {
				oi[x] = T(acc[x])
			}
		}
	}
}
