// Package stats holds the statistics of an ESA report: summaries across
// seeds, Welch's t-test, Cohen's d and Jaccard overlaps of selected sets.
package stats

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary describes a sample. Std is the sample standard deviation (n − 1
// in the denominator): the seeds are a sample of the seeds one could run.
// It is NaN for fewer than two values; every field is NaN for none.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Summarize computes the summary of x.
func Summarize(x []float64) Summary {
	s := Summary{N: len(x), Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(x) == 0 {
		return s
	}
	s.Mean, s.Min, s.Max = Mean(x), x[0], x[0]
	for _, v := range x {
		s.Min = math.Min(s.Min, v)
		s.Max = math.Max(s.Max, v)
	}
	s.Std = math.Sqrt(Variance(x))
	return s
}

// Mean is the arithmetic mean (NaN for no values).
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// Variance is the sample variance with n − 1 (NaN for fewer than two values).
// Two passes: the mean first, so large equal values do not cancel badly.
func Variance(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	m := Mean(x)
	var s float64
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return s / float64(len(x)-1)
}

// Welch is the result of Welch's unequal-variance t-test of a against b.
type Welch struct {
	MeanA float64 `json:"mean_a"`
	MeanB float64 `json:"mean_b"`
	T     float64 `json:"t"`    // (mean a − mean b) / √(var a/n a + var b/n b)
	DF    float64 `json:"df"`   // Welch–Satterthwaite degrees of freedom
	P     float64 `json:"p"`    // two-sided p-value from the Student-t distribution with DF
	Note  string  `json:"note"` // why T or P is not a finite number, if so
}

// WelchT runs Welch's t-test. With fewer than two values in a group the
// variance is unknown and T, DF, P are NaN. When both groups have zero
// variance (relative spread below 10⁻¹²) the test degenerates: different means give T = ±Inf and P = 0
// (the groups are separated exactly), equal means give NaN.
func WelchT(a, b []float64) Welch {
	w := Welch{MeanA: Mean(a), MeanB: Mean(b), T: math.NaN(), DF: math.NaN(), P: math.NaN()}
	if len(a) < 2 || len(b) < 2 {
		w.Note = "needs at least two values (seeds) per group"
		return w
	}
	va, vb := Variance(a)/float64(len(a)), Variance(b)/float64(len(b))
	diff := w.MeanA - w.MeanB
	if math.IsNaN(diff) || math.IsInf(diff, 0) || math.IsInf(va, 0) || math.IsInf(vb, 0) || math.IsNaN(va) || math.IsNaN(vb) {
		w.Note = "a value is not finite"
		return w
	}
	se2 := va + vb
	// Variance at the level of float64 rounding (a relative spread below
	// 10⁻¹²) is no variance: a deterministic set re-evaluated per seed
	// differs only in the last bits of its perplexity, and dividing by that
	// noise would give an arbitrary, huge t.
	scale := math.Max(math.Abs(w.MeanA), math.Abs(w.MeanB))
	if se2 <= (1e-12*scale)*(1e-12*scale) {
		se2 = 0
	}
	if se2 == 0 {
		if diff == 0 {
			w.Note = "both groups are constant and equal"
			return w
		}
		w.T, w.P = math.Copysign(math.Inf(1), diff), 0
		w.Note = "both groups are constant (to float64 rounding) across seeds: the difference is exact, not a sampling result"
		return w
	}
	w.T = diff / math.Sqrt(se2)
	w.DF = se2 * se2 / (va*va/float64(len(a)-1) + vb*vb/float64(len(b)-1))
	w.P = 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: w.DF}.Survival(math.Abs(w.T))
	return w
}

// CohenD is the standardised mean difference (mean a − mean b) / s_pooled,
// s_pooled² = ((n a − 1)·var a + (n b − 1)·var b) / (n a + n b − 2).
// NaN with fewer than two values in a group; ±Inf when both are constant
// (to rounding) and differ.
func CohenD(a, b []float64) float64 {
	if len(a) < 2 || len(b) < 2 {
		return math.NaN()
	}
	na, nb := float64(len(a)), float64(len(b))
	sp := math.Sqrt(((na-1)*Variance(a) + (nb-1)*Variance(b)) / (na + nb - 2))
	diff := Mean(a) - Mean(b)
	if sp <= 1e-12*math.Max(math.Abs(Mean(a)), math.Abs(Mean(b))) { // rounding-level spread, as in WelchT
		if diff == 0 {
			return math.NaN()
		}
		return math.Copysign(math.Inf(1), diff)
	}
	return diff / sp
}

// Jaccard is |a∩b| / |a∪b| of two sets of keys (1 for two empty sets).
// Repeated keys count once.
func Jaccard(a, b []int64) float64 {
	sa := make(map[int64]struct{}, len(a))
	for _, x := range a {
		sa[x] = struct{}{}
	}
	sb := make(map[int64]struct{}, len(b))
	for _, x := range b {
		sb[x] = struct{}{}
	}
	inter := 0
	for x := range sb {
		if _, ok := sa[x]; ok {
			inter++
		}
	}
	union := len(sa) + len(sb) - inter
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// Pair is the Jaccard overlap of sets I and J (I < J).
type Pair struct {
	I       int     `json:"i"`
	J       int     `json:"j"`
	Jaccard float64 `json:"jaccard"`
}

// Overlaps summarises the Jaccard overlap of every pair of sets.
type Overlaps struct {
	Pairs []Pair  `json:"pairs"`
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"` // sample std over pairs (NaN for one pair)
	Min   float64 `json:"min"`
}

// JaccardAllPairs compares every pair of sets (e.g. the top-k sets of each
// seed). With fewer than two sets there are no pairs and the summary is NaN.
func JaccardAllPairs(sets [][]int64) Overlaps {
	var o Overlaps
	var v []float64
	for i := range sets {
		for j := i + 1; j < len(sets); j++ {
			x := Jaccard(sets[i], sets[j])
			o.Pairs = append(o.Pairs, Pair{i, j, x})
			v = append(v, x)
		}
	}
	s := Summarize(v)
	o.Mean, o.Std, o.Min = s.Mean, s.Std, s.Min
	return o
}

// Quantile is the q-quantile (0 ≤ q ≤ 1) of x by linear interpolation
// between order statistics (the "type 7" rule of R and numpy's default).
// x is sorted in place.
func Quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	sort.Float64s(x)
	h := q * float64(len(x)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}
