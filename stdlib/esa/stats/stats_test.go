package stats

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", what, got, want, tol)
	}
}

// TestWelchByHand: a = {1,2,3,4}, b = {2,4,6,8,10}.
//
//	mean a = 2.5, Σ(a−ā)² = 2.25+0.25+0.25+2.25 = 5,   var a = 5/3
//	mean b = 6,   Σ(b−b̄)² = 16+4+0+4+16 = 40,          var b = 40/4 = 10
//	se² = (5/3)/4 + 10/5 = 5/12 + 2 = 29/12 = 2.41666…
//	t = (2.5 − 6)/√(29/12) = −3.5/1.554563 = −2.2514363
//	df = (29/12)² / ((5/12)²/3 + 2²/4) = 5.8402778 / (0.0578704 + 1) = 5.5207877
//	s_pooled² = (3·5/3 + 4·10)/7 = 45/7, d = −3.5/√(45/7) = −1.3804186
//	p (two-sided, t with 5.5208 df) = 0.0691336 (scipy.stats.ttest_ind(a, b, equal_var=False)
//	  gives statistic −2.2514363231593695, pvalue 0.06913359319239236).
func TestWelchByHand(t *testing.T) {
	w := WelchT([]float64{1, 2, 3, 4}, []float64{2, 4, 6, 8, 10})
	near(t, "t", w.T, -2.2514363231593695, 1e-12)
	near(t, "df", w.DF, 5.520787746170677, 1e-9)
	near(t, "p", w.P, 0.06913359319239236, 1e-9)
	near(t, "d", CohenD([]float64{1, 2, 3, 4}, []float64{2, 4, 6, 8, 10}), -1.380418616056577, 1e-12)
	if w.Note != "" {
		t.Errorf("unexpected note %q", w.Note)
	}
}

// TestStudentTTable: the textbook two-sided 5% critical value of Student's
// t with 4 degrees of freedom is 2.776445. Groups a = {m−1, m, m+1} and
// b = {−1, 0, 1} have variance 1 each, se² = 1/3 + 1/3 = 2/3,
// df = (2/3)² / (2·(1/3)²/2) = 4 and t = m/√(2/3); choosing
// m = 2.776445·√(2/3) must give p = 0.05.
func TestStudentTTable(t *testing.T) {
	m := 2.776445 * math.Sqrt(2.0/3)
	w := WelchT([]float64{m - 1, m, m + 1}, []float64{-1, 0, 1})
	near(t, "df", w.DF, 4, 1e-12)
	near(t, "t", w.T, 2.776445, 1e-9)
	near(t, "p", w.P, 0.05, 2e-6)
}

func TestWelchDegenerate(t *testing.T) {
	w := WelchT([]float64{1}, []float64{2, 3})
	if !math.IsNaN(w.T) || w.Note == "" {
		t.Errorf("one value: %+v", w)
	}
	w = WelchT([]float64{5, 5, 5}, []float64{1, 1, 1})
	if !math.IsInf(w.T, 1) || w.P != 0 || w.Note == "" {
		t.Errorf("constant groups: %+v", w)
	}
	// Rounding-level spread counts as constant.
	w = WelchT([]float64{208.2, 208.2 + 3e-14, 208.2}, []float64{0.1681, 0.1681, 0.1681})
	if !math.IsInf(w.T, 1) || w.P != 0 {
		t.Errorf("rounding-level spread: %+v", w)
	}
	if d := CohenD([]float64{208.2, 208.2 + 3e-14}, []float64{0.5, 0.5}); !math.IsInf(d, 1) {
		t.Errorf("Cohen's d of constant groups = %v", d)
	}
	w = WelchT([]float64{1, 1}, []float64{1, 1})
	if !math.IsNaN(w.T) || !math.IsNaN(w.P) {
		t.Errorf("equal constant groups: %+v", w)
	}
	w = WelchT([]float64{math.Inf(1), 1}, []float64{1, 2})
	if !math.IsNaN(w.T) || w.Note == "" {
		t.Errorf("infinite value: %+v", w)
	}
}

func TestSummarize(t *testing.T) {
	// {2, 4, 4, 4, 5, 5, 7, 9}: mean 5, Σ(x−5)² = 9+1+1+1+0+0+4+16 = 32,
	// sample var 32/7, std 2.1380899.
	s := Summarize([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	near(t, "mean", s.Mean, 5, 0)
	near(t, "std", s.Std, math.Sqrt(32.0/7), 1e-15)
	if s.Min != 2 || s.Max != 9 || s.N != 8 {
		t.Errorf("summary %+v", s)
	}
	if one := Summarize([]float64{3}); one.Mean != 3 || !math.IsNaN(one.Std) {
		t.Errorf("one value %+v", one)
	}
}

// TestJaccardByHand: A = {1,2,3}, B = {2,3,4}, C = {5}.
// J(A,B) = |{2,3}|/|{1,2,3,4}| = 2/4 = 0.5, J(A,C) = 0, J(B,C) = 0.
// Over the 3 pairs: mean 1/6, sample std √(((1/2−1/6)² + 2·(1/6)²)/2)
// = √((1/9 + 1/18)/2) = √(1/12) = 0.2886751, min 0.
func TestJaccardByHand(t *testing.T) {
	o := JaccardAllPairs([][]int64{{1, 2, 3}, {3, 2, 4, 2}, {5}})
	if len(o.Pairs) != 3 || o.Pairs[0] != (Pair{0, 1, 0.5}) || o.Pairs[1].Jaccard != 0 || o.Pairs[2].Jaccard != 0 {
		t.Errorf("pairs %+v", o.Pairs)
	}
	near(t, "mean", o.Mean, 1.0/6, 1e-15)
	near(t, "std", o.Std, math.Sqrt(1.0/12), 1e-15)
	near(t, "min", o.Min, 0, 0)
	if Jaccard(nil, nil) != 1 {
		t.Error("empty sets")
	}
}

func TestQuantile(t *testing.T) {
	// numpy.percentile([1..10], 95) = 1 + 0.95·9 = 9.55
	x := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	near(t, "p95", Quantile(x, 0.95), 9.55, 1e-12)
	near(t, "p0", Quantile(x, 0), 1, 0)
	near(t, "p100", Quantile(x, 1), 10, 0)
}

func TestStreamExactWhenShort(t *testing.T) {
	s := NewStream(100, 1)
	// 1..100 in two chunks: mean 50.5, population var (100²−1)/12 = 833.25,
	// p95 = 1 + 0.95·99 = 95.05, p99 = 1 + 0.99·99 = 99.01.
	var a, b []float32
	for i := 1; i <= 100; i++ {
		if i <= 40 {
			a = append(a, float32(i))
		} else {
			b = append(b, float32(i))
		}
	}
	s.Add(b)
	s.Add(a)
	r := s.Result()
	near(t, "mean", r.Mean, 50.5, 1e-12)
	near(t, "std", r.Std, math.Sqrt(833.25), 1e-12)
	near(t, "p95", r.P95, 95.05, 1e-12)
	near(t, "p99", r.P99, 99.01, 1e-12)
	if r.Min != 1 || r.Max != 100 || r.Count != 100 || r.QuantileMethod[:5] != "exact" {
		t.Errorf("%+v", r)
	}
}

// TestStreamReservoirQuantiles: 2·10⁶ values uniform on a grid of [0,1)
// through a 2¹⁴ reservoir: the sample's p95/p99 must be within 5 standard
// errors (√(p(1−p)/n) ≈ 0.0017 and 0.00078) of the true 0.95 and 0.99, and
// the sample must be uniform over the stream (its mean ≈ 0.5).
func TestStreamReservoirQuantiles(t *testing.T) {
	const n, res = 2_000_000, 1 << 14
	s := NewStream(res, 7)
	buf := make([]float32, 1000)
	for off := 0; off < n; off += len(buf) {
		for j := range buf {
			// a permutation of the grid so order does not track value
			buf[j] = float32(((off+j)*7919)%n) / n
		}
		s.Add(buf)
	}
	r := s.Result()
	near(t, "p95", r.P95, 0.95, 5*math.Sqrt(0.95*0.05/res))
	near(t, "p99", r.P99, 0.99, 5*math.Sqrt(0.99*0.01/res))
	near(t, "sample mean", Mean(s.Sample()), 0.5, 5*math.Sqrt(1.0/12/res))
	near(t, "mean", r.Mean, 0.5, 1e-6)
	if len(s.Sample()) != res || r.Count != n {
		t.Errorf("sample %d count %d", len(s.Sample()), r.Count)
	}
}
