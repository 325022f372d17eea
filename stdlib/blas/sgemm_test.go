package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sgemmRef is the float64 reference: C = alpha·op(A)·op(B) + beta·C, with
// bound[i*n+j] = |alpha|·Σp |op(A)ip·op(B)pj| + |beta·Cij|, the scale that
// float32 rounding error is proportional to.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, bound []float64) {
	want = make([]float64, m*n)
	bound = make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, sabs float64
			for p := range k {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				sabs += math.Abs(av * bv)
			}
			w := float64(alpha) * s
			bd := math.Abs(float64(alpha)) * sabs
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				bd += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = w
			bound[i*n+j] = bd
		}
	}
	return want, bound
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra stride beyond the stored row length
	padC           int
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d.%d.%d", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k,
		tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	return x
}

// checkCase runs Sgemm on one case and compares every element of C, and the
// padding columns of C that must stay untouched, against the reference.
func checkCase(t *testing.T, r *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.padC
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 {
		// beta = 0 must not read C: NaN there would leak into the result.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	// Sentinels in C's padding columns detect writes outside the m×n block.
	const sentinel = 12345.5
	for i := range tc.m {
		for j := tc.n; j < ldc; j++ {
			c[i*ldc+j] = sentinel
		}
	}
	want, bound := sgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)

	// Worst-case float32 summation error is about k·u of Σ|terms| (u = 2⁻²⁴),
	// plus a few roundings for alpha, beta and the final add.
	tol := float64(tc.k+4) * 0x1p-24
	for i := range tc.m {
		for j := range ldc {
			got := float64(c[i*ldc+j])
			if j >= tc.n {
				if got != sentinel {
					t.Fatalf("%v: C[%d,%d] in the ldc padding was overwritten: %g", tc, i, j, got)
				}
				continue
			}
			w, bd := want[i*tc.n+j], bound[i*tc.n+j]
			if math.IsNaN(got) || math.Abs(got-w) > tol*bd+1e-30 {
				t.Fatalf("%v: C[%d,%d] = %.9g, want %.9g (|err| %.3g > bound %.3g)", tc, i, j, got, w,
					math.Abs(got-w), tol*bd)
			}
		}
	}
}

// smallCases covers every transpose combination on shapes around the 6×16
// tile: 1, primes, exact multiples and one-off sizes, with padded strides
// and the alpha/beta special cases.
func smallCases() []gemmCase {
	dims := []int{1, 2, 5, 6, 7, 11, 16, 17, 23, 33}
	ks := []int{1, 3, 8, 9, 17, 64}
	scal := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, -1}, {0, 0.5}, {0, 0}}
	var cases []gemmCase
	i := 0
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range dims {
				for _, n := range dims {
					k := ks[i%len(ks)]
					s := scal[i%len(scal)]
					cases = append(cases, gemmCase{transA: ta, transB: tb, m: m, n: n, k: k,
						alpha: s[0], beta: s[1], padA: i % 3, padB: (i / 3) % 3, padC: (i / 2) % 4})
					i++
				}
			}
		}
	}
	return cases
}

// largeCases cross the cache-block boundaries (kcBlock 256, mcBlock 144,
// ncBlock 4080) with ragged remainders, so multi-block accumulation and the
// thread split are exercised.
func largeCases() []gemmCase {
	var cases []gemmCase
	for i, ta := range []bool{false, true} {
		for j, tb := range []bool{false, true} {
			cases = append(cases,
				gemmCase{transA: ta, transB: tb, m: 151, n: 97, k: 300, alpha: 1, beta: 0, padA: 3, padB: 1, padC: 2},
				gemmCase{transA: ta, transB: tb, m: 293, n: 61, k: 517, alpha: -1.5, beta: 0.25},
				gemmCase{transA: ta, transB: tb, m: 7, n: 4111, k: 37, alpha: 1, beta: 1, padC: 5},
				gemmCase{transA: ta, transB: tb, m: 64 + i, n: 128 + j, k: 256, alpha: 0.5, beta: 0},
				// Few rows take the unpacked path: wide enough to be split
				// over threads and to cross its 512-column segments.
				gemmCase{transA: ta, transB: tb, m: 1, n: 1203, k: 300, alpha: 1, beta: 0, padA: 1, padB: 2, padC: 1},
				gemmCase{transA: ta, transB: tb, m: 3, n: 1100, k: 61, alpha: -0.5, beta: 1.5},
				gemmCase{transA: ta, transB: tb, m: smallM, n: 2051, k: 515, alpha: 2, beta: 0, padA: 3},
			)
		}
	}
	return cases
}

func runCases(t *testing.T, cases []gemmCase, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	for _, tc := range cases {
		checkCase(t, r, tc)
	}
}

// withPath runs f with the assembly kernels on or off, restoring the setting.
func withPath(t *testing.T, asm bool, f func(t *testing.T)) {
	saved := useAsm
	if asm && !saved {
		t.Skip("assembly kernels unavailable on this CPU or build")
	}
	useAsm = asm
	defer func() { useAsm = saved }()
	f(t)
}

func withThreads(n int, f func()) {
	saved := threadSetting.Load()
	SetThreads(n)
	defer threadSetting.Store(saved)
	f()
}

func TestSgemm(t *testing.T) {
	for _, path := range []struct {
		name string
		asm  bool
	}{{"asm", true}, {"purego", false}} {
		t.Run(path.name, func(t *testing.T) {
			withPath(t, path.asm, func(t *testing.T) {
				for _, threads := range []int{1, 2, 3} {
					t.Run(fmt.Sprintf("threads%d", threads), func(t *testing.T) {
						withThreads(threads, func() {
							runCases(t, smallCases(), uint64(threads))
							runCases(t, largeCases(), uint64(10+threads))
						})
					})
				}
			})
		})
	}
}

// TestSgemmPathsAgree checks the assembly and pure-Go paths on the same
// inputs: both are bounded by the reference, and this catches a systematic
// difference too small for the error bound on one element.
func TestSgemmPathsAgree(t *testing.T) {
	if !useAsm {
		t.Skip("assembly kernels unavailable on this CPU or build")
	}
	r := rand.New(rand.NewPCG(7, 7))
	m, n, k := 37, 45, 203
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	c1 := make([]float32, m*n)
	c2 := make([]float32, m*n)
	Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c1, n)
	useAsm = false
	Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c2, n)
	useAsm = true
	var sum1, sum2 float64
	for i := range c1 {
		sum1 += float64(c1[i])
		sum2 += float64(c2[i])
	}
	if d := math.Abs(sum1 - sum2); d > 1e-3 {
		t.Fatalf("sum of C differs between paths: asm %.9g purego %.9g", sum1, sum2)
	}
}

func TestSgemmZeroSizes(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 0, 2, 3, 1, nil, 3, make([]float32, 6), 2, 0, nil, 2)
	Sgemm(false, false, 2, 0, 3, 1, make([]float32, 6), 3, nil, 1, 0, nil, 1)
	// k = 0: C = beta·C, A and B unread.
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	if c[0] != 0.5 || c[3] != 2 {
		t.Fatalf("k=0 with beta 0.5 gave %v", c)
	}
	// alpha = 0 and beta = 0 clear C even when it holds NaN.
	nan := float32(math.NaN())
	c = []float32{nan, nan, nan, nan}
	Sgemm(false, false, 2, 2, 1, 0, []float32{1, 1}, 1, []float32{1, 1}, 2, 0, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("alpha=0 beta=0 left %v", c)
		}
	}
}

func TestSgemmBadArgs(t *testing.T) {
	ok := make([]float32, 100)
	for _, tc := range []struct {
		name string
		call func()
		want string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, ok, 2, ok, 2, 0, ok, 2) }, "negative dimension"},
		{"lda too small", func() { Sgemm(false, false, 3, 2, 4, 1, ok, 3, ok, 2, 0, ok, 2) }, "lda=3"},
		{"transA lda", func() { Sgemm(true, false, 3, 2, 4, 1, ok, 2, ok, 2, 0, ok, 2) }, "lda=2"},
		{"ldb transB", func() { Sgemm(false, true, 3, 2, 4, 1, ok, 4, ok, 3, 0, ok, 2) }, "ldb=3"},
		{"short a", func() { Sgemm(false, false, 3, 2, 4, 1, ok[:11], 4, ok, 2, 0, ok, 2) }, "len(a)=11"},
		{"short b", func() { Sgemm(false, true, 3, 2, 4, 1, ok, 4, ok[:7], 4, 0, ok, 2) }, "len(b)=7"},
		{"short c", func() { Sgemm(false, false, 3, 2, 4, 1, ok, 4, ok, 2, 0, ok[:5], 2) }, "len(c)=5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %q does not mention %q", msg, tc.want)
				}
			}()
			tc.call()
		})
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := rand.New(rand.NewPCG(3, 3))
	n, k := 4096, 128
	for _, m := range []int{1, 96} { // unpacked and packed paths
		a, b, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		for _, threads := range []int{1, 2} {
			withThreads(threads, func() {
				for _, transA := range []bool{false, true} {
					lda := k
					if transA {
						lda = m
					}
					allocs := testing.AllocsPerRun(20, func() {
						Sgemm(transA, true, m, n, k, 1, a, lda, b, k, 0, c, n)
					})
					if allocs != 0 {
						t.Errorf("m=%d threads=%d transA=%v: %v allocations per call, want 0", m, threads, transA, allocs)
					}
				}
			})
		}
	}
}

func TestGrid(t *testing.T) {
	for _, tc := range []struct {
		m, n, k, threads int
		small            bool
		tr, tc           int
	}{
		{1, 16, 16, 4, true, 1, 1},         // tiny: stays on the caller
		{1, 50304, 512, 2, true, 1, 2},     // generation step: columns only
		{256, 50304, 512, 2, false, 1, 8},  // wide: column blocks, each packs part of B
		{2048, 2048, 2048, 2, false, 4, 2}, // large: 8 tasks for 2 threads
		{256, 512, 512, 2, false, 1, 2},    // packing would dominate finer grids
		{4096, 64, 4096, 2, false, 2, 1},   // narrow: packing A dominates, one task per thread
		{7, 16, 4096, 2, false, 1, 1},      // below the threading threshold
	} {
		tr, tc2 := grid(tc.m, tc.n, tc.k, tc.threads, tc.small)
		if tr != tc.tr || tc2 != tc.tc {
			t.Errorf("grid(%d,%d,%d,%d) = %d×%d, want %d×%d", tc.m, tc.n, tc.k, tc.threads, tr, tc2, tc.tr, tc.tc)
		}
	}
}

// TestSgemmConcurrent runs calls from several goroutines at once over the
// shared worker pool. The summation order of each element depends only on
// the depth blocking, so every result must equal the single-threaded one bit
// for bit.
func TestSgemmConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	type job struct {
		m, n, k int
		a, b    []float32
		want    []float32
	}
	var jobs []job
	for _, s := range [][3]int{{150, 300, 70}, {2, 700, 90}, {64, 1000, 33}, {301, 17, 300}} {
		j := job{m: s[0], n: s[1], k: s[2]}
		j.a, j.b = randSlice(r, j.m*j.k), randSlice(r, j.k*j.n)
		j.want = make([]float32, j.m*j.n)
		withThreads(1, func() { Sgemm(false, false, j.m, j.n, j.k, 1, j.a, j.k, j.b, j.n, 0, j.want, j.n) })
		jobs = append(jobs, j)
	}
	withThreads(3, func() {
		errs := make(chan string, 64)
		done := make(chan bool)
		for g := range 4 {
			go func() {
				defer func() { done <- true }()
				for it := range 6 {
					j := jobs[(g+it)%len(jobs)]
					c := make([]float32, j.m*j.n)
					Sgemm(false, false, j.m, j.n, j.k, 1, j.a, j.k, j.b, j.n, 0, c, j.n)
					for i := range c {
						if c[i] != j.want[i] {
							errs <- fmt.Sprintf("goroutine %d, %dx%dx%d: C[%d] = %g, single-threaded %g", g, j.m, j.n, j.k, i, c[i], j.want[i])
							return
						}
					}
				}
			}()
		}
		for range 4 {
			<-done
		}
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}
