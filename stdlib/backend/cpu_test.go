package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -87.3; x < 88.7; x += 0.000731 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 { // float32 ulp is 1.2e-7 relative: allow ~2 ulp
		t.Fatalf("expf worst relative error %.3g", worst)
	}
	if expf(-200) != 0 || !math.IsInf(float64(expf(100)), 1) || !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Fatal("expf edge cases")
	}
	// Subnormal results are flushed to zero.
	if got := expf(-88); got != 0 {
		t.Fatalf("expf(-88) = %g, want 0", got)
	}
}

// naiveGemm is the textbook triple loop in float64.
func naiveGemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av, bv := a[i*lda+p], b[p*ldb+j]
				if tA {
					av = a[p*lda+i]
				}
				if tB {
					bv = b[j*ldb+p]
				}
				s += av * bv
			}
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

func TestGemmAllTransposes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {1, 70, 33}, {37, 1, 19}, {65, 67, 9}, {130, 40, 200}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				lda, ldb, ldc := k+3, n+2, n+1
				if tA {
					lda = m + 3
				}
				if tB {
					ldb = k + 2
				}
				a := randSlice(rng, max(m, k)*lda)
				b := randSlice(rng, max(n, k)*ldb)
				c := randSlice(rng, m*ldc)
				want := append([]float64(nil), c...)
				naiveGemm(tA, tB, m, n, k, 0.7, a, lda, b, ldb, 0.3, want, ldc)
				got64 := append([]float64(nil), c...)
				gemm(true, tA, tB, m, n, k, 0.7, a, lda, b, ldb, 0.3, got64, ldc)
				a32, b32, c32 := toF32(a), toF32(b), toF32(c)
				gemm(true, tA, tB, m, n, k, 0.7, a32, lda, b32, ldb, 0.3, c32, ldc)
				for i := range want {
					if d := math.Abs(got64[i] - want[i]); d > 1e-12*float64(k+1) {
						t.Fatalf("f64 %v tA=%v tB=%v: c[%d] = %g, want %g", sz, tA, tB, i, got64[i], want[i])
					}
					if d := math.Abs(float64(c32[i]) - want[i]); d > 1e-5*math.Sqrt(float64(k+1))*4 {
						t.Fatalf("f32 %v tA=%v tB=%v: c[%d] = %g, want %g", sz, tA, tB, i, c32[i], want[i])
					}
				}
			}
		}
	}
}

func toF32(v []float64) []float32 {
	o := make([]float32, len(v))
	for i, x := range v {
		o[i] = float32(x)
	}
	return o
}

// naiveAttention is causal grouped-query attention written out per element;
// with window > 0 query position p sees keys p−window < j ≤ p only.
func naiveAttention(q, k, v []float64, tq, tk, heads, kvHeads, hd, window int) []float64 {
	out := make([]float64, tq*heads*hd)
	scale := 1 / math.Sqrt(float64(hd))
	for h := 0; h < heads; h++ {
		g := h / (heads / kvHeads)
		for i := 0; i < tq; i++ {
			n := tk - tq + i + 1
			j0 := 0
			if window > 0 {
				j0 = max(0, n-window)
			}
			s := make([]float64, n)
			mx := math.Inf(-1)
			for j := j0; j < n; j++ {
				for d := 0; d < hd; d++ {
					s[j] += q[i*heads*hd+h*hd+d] * k[j*kvHeads*hd+g*hd+d]
				}
				s[j] *= scale
				mx = math.Max(mx, s[j])
			}
			var z float64
			for j := j0; j < n; j++ {
				s[j] = math.Exp(s[j] - mx)
				z += s[j]
			}
			for j := j0; j < n; j++ {
				for d := 0; d < hd; d++ {
					out[i*heads*hd+h*hd+d] += s[j] / z * v[j*kvHeads*hd+g*hd+d]
				}
			}
		}
	}
	return out
}

func TestAttentionForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	heads, kvHeads, hd := 4, 2, 8
	for _, sz := range [][3]int{{150, 150, 0}, {1, 130, 0}, {3, 70, 0}, {150, 150, 37}, {150, 150, 64}, {1, 130, 5}, {3, 70, 100}} {
		tq, tk, window := sz[0], sz[1], sz[2]
		q := randSlice(rng, tq*heads*hd)
		k := randSlice(rng, tk*kvHeads*hd)
		v := randSlice(rng, tk*kvHeads*hd)
		want := naiveAttention(q, k, v, tq, tk, heads, kvHeads, hd, window)
		for _, be := range []Backend{CPU64(), CPU()} {
			tol := 1e-12
			if be.Name() == "cpu-f32" {
				tol = 2e-5
			}
			h := be.(Host64)
			up := func(x []float64) Buffer { b := be.Alloc(len(x)); h.Upload64(b, x); return b }
			out := be.Alloc(len(want))
			var probs Buffer
			if tq == tk {
				probs = be.Alloc(heads * tq * tk)
			}
			be.Attention(out, probs, up(q), up(k), up(v), tq, tk, heads, kvHeads, hd, window)
			got := make([]float64, len(want))
			h.Download64(got, out)
			for i := range want {
				if math.Abs(got[i]-want[i]) > tol {
					t.Fatalf("%s tq=%d tk=%d window=%d: out[%d] = %g, want %g", be.Name(), tq, tk, window, i, got[i], want[i])
				}
			}
		}
	}
}

// TestAttentionBackward checks dq, dk, dv against central differences of
// Σ r⊙out in float64, over a sequence spanning several causal blocks, with
// and without sliding windows (one shorter than a block, one longer).
func TestAttentionBackward(t *testing.T) {
	for _, window := range []int{0, 23, 90} {
		t.Run(fmt.Sprint("window=", window), func(t *testing.T) { attentionBackward(t, window) })
	}
}

func attentionBackward(t *testing.T, window int) {
	rng := rand.New(rand.NewPCG(5, uint64(6+window)))
	T, heads, kvHeads, hd := 150, 4, 2, 8
	q := randSlice(rng, T*heads*hd)
	k := randSlice(rng, T*kvHeads*hd)
	v := randSlice(rng, T*kvHeads*hd)
	r := randSlice(rng, T*heads*hd)
	f := func() float64 {
		out := naiveAttention(q, k, v, T, T, heads, kvHeads, hd, window)
		var s float64
		for i := range out {
			s += r[i] * out[i]
		}
		return s
	}
	be := CPU64()
	h := be.(Host64)
	up := func(x []float64) Buffer { b := be.Alloc(len(x)); h.Upload64(b, x); return b }
	qb, kb, vb := up(q), up(k), up(v)
	out, probs := be.Alloc(len(q)), be.Alloc(heads*T*T)
	be.Attention(out, probs, qb, kb, vb, T, T, heads, kvHeads, hd, window)
	dq, dk, dv := be.Alloc(len(q)), be.Alloc(len(k)), be.Alloc(len(v))
	be.AttentionBackward(dq, dk, dv, up(r), qb, kb, vb, probs, T, heads, kvHeads, hd, window)

	for _, x := range []struct {
		name string
		val  []float64
		grad Buffer
	}{{"q", q, dq}, {"k", k, dk}, {"v", v, dv}} {
		g := make([]float64, len(x.val))
		h.Download64(g, x.grad)
		// Include the first and last rows (most and fewest dependents).
		idx := []int{0, len(x.val) - 1}
		for i := 0; i < 25; i++ {
			idx = append(idx, rng.IntN(len(x.val)))
		}
		for _, i := range idx {
			const eps = 1e-5
			x0 := x.val[i]
			x.val[i] = x0 + eps
			fp := f()
			x.val[i] = x0 - eps
			fm := f()
			x.val[i] = x0
			fd := (fp - fm) / (2 * eps)
			if math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(g[i])) {
				t.Errorf("d%s[%d] = %.10g, finite difference %.10g", x.name, i, g[i], fd)
			}
		}
	}

	// float32 backend agrees with float64.
	be32 := CPU()
	h32 := be32.(Host64)
	up32 := func(x []float64) Buffer { b := be32.Alloc(len(x)); h32.Upload64(b, x); return b }
	q32, k32, v32 := up32(q), up32(k), up32(v)
	out32, probs32 := be32.Alloc(len(q)), be32.Alloc(heads*T*T)
	be32.Attention(out32, probs32, q32, k32, v32, T, T, heads, kvHeads, hd, window)
	dq32, dk32, dv32 := be32.Alloc(len(q)), be32.Alloc(len(k)), be32.Alloc(len(v))
	be32.AttentionBackward(dq32, dk32, dv32, up32(r), q32, k32, v32, probs32, T, heads, kvHeads, hd, window)
	for _, p := range [][2]Buffer{{dq, dq32}, {dk, dk32}, {dv, dv32}} {
		a, b := make([]float64, p[0].Len()), make([]float64, p[1].Len())
		h.Download64(a, p[0])
		h32.Download64(b, p[1])
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-4*math.Max(1, math.Abs(a[i])) {
				t.Fatalf("float32 gradient %g vs float64 %g at %d", b[i], a[i], i)
			}
		}
	}
}

func BenchmarkExpf(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i%200) * 0.07
	}
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		for _, v := range x {
			s += expf(v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
	_ = s
}

// TestExpSum checks the vector exponential (and its scalar tail) against
// math.Exp over the whole range, with the edge cases in vector lanes.
func TestExpSum(t *testing.T) {
	var src []float32
	for x := -90.0; x < 90; x += 0.00937 {
		src = append(src, float32(x))
	}
	inf := float32(math.Inf(1))
	src = append(src, float32(math.NaN()), inf, -inf, 88.7, 88.75, -87.3, -87.4, 0, -0.0)
	for _, ab := range [][2]float32{{1, 0}, {-1, 0}, {1, -3.5}} {
		dst := make([]float32, len(src))
		sum := expSum(dst, src, ab[0], ab[1])
		var want float64
		for i, v := range src {
			x := float64(ab[0]*v + ab[1])
			e := math.Exp(x)
			got := float64(dst[i])
			switch {
			case math.IsNaN(x):
				if !math.IsNaN(got) {
					t.Fatalf("exp(NaN) = %g", got)
				}
				continue
			case x > 88.73:
				if !math.IsInf(got, 1) {
					t.Fatalf("exp(%g) = %g, want +Inf", x, got)
				}
				continue
			case x < -87.3366:
				if got != 0 {
					t.Fatalf("exp(%g) = %g, want 0", x, got)
				}
				continue
			case x > 88.37: // clamped: within the last 0.35 of the range
				if got < 2e38 {
					t.Fatalf("exp(%g) = %g", x, got)
				}
				continue
			}
			if math.Abs(got-e) > 3e-7*e {
				t.Fatalf("exp(%g) = %g, want %g (rel %.3g)", x, got, e, math.Abs(got-e)/e)
			}
			want += e
		}
		if !math.IsNaN(float64(sum)) {
			t.Fatalf("sum over a NaN is %g", sum)
		}
		_ = want
	}
	// A sum without special values is accurate.
	xs := make([]float32, 1003)
	for i := range xs {
		xs[i] = float32(i%50) * -0.3
	}
	var want float64
	for _, v := range xs {
		want += math.Exp(float64(v))
	}
	if got := float64(expSum(make([]float32, len(xs)), xs, 1, 0)); math.Abs(got-want) > 1e-6*want {
		t.Fatalf("sum %g, want %g", got, want)
	}
}

func BenchmarkExpSum(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i%200) * 0.07
	}
	y := make([]float32, len(x))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		expSum(y, x, 1, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/exp")
}

// TestRowKernels compares the vector row kernels with plain loops for every
// length around the 8-lane boundary, and checks NaN propagation of rowMax.
func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for n := 1; n <= 41; n++ {
		a, b := toF32(randSlice(rng, n)), toF32(randSlice(rng, n))
		var m float32 = a[0]
		var dot float64
		for i := range a {
			m = max(m, a[i])
			dot += float64(a[i]) * float64(b[i])
		}
		if got := rowMax(a); got != m {
			t.Fatalf("n=%d rowMax %g, want %g", n, got, m)
		}
		if got := rowDot(a, b); math.Abs(float64(got)-dot) > 1e-5*float64(n) {
			t.Fatalf("n=%d rowDot %g, want %g", n, got, dot)
		}
		d := append([]float32(nil), b...)
		rowSoftmaxBack(d, a, 0.25)
		s := append([]float32(nil), a...)
		rowScale(s, 3)
		for i := range a {
			if want := a[i] * (b[i] - 0.25); math.Abs(float64(d[i]-want)) > 1e-6 {
				t.Fatalf("n=%d rowSoftmaxBack[%d] %g, want %g", n, i, d[i], want)
			}
			if s[i] != 3*a[i] {
				t.Fatalf("n=%d rowScale[%d] %g, want %g", n, i, s[i], 3*a[i])
			}
		}
		for _, at := range []int{0, n / 2, n - 1} {
			c := append([]float32(nil), a...)
			c[at] = float32(math.NaN())
			if got := rowMax(c); !math.IsNaN(float64(got)) {
				t.Fatalf("n=%d NaN at %d: rowMax %g", n, at, got)
			}
		}
	}
}
