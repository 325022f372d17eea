package plot

import (
	"fmt"
	"image/color"
	"math"
)

const (
	minAutoBins = 10
	maxAutoBins = 100
	maxBins     = 1000
)

// Histogram draws the distribution of scores with a log-scaled count axis, so the
// heavy tail that ESA looks for (a few huge scores among millions of small ones)
// stays visible; empty bins are simply not drawn. bins = 0 chooses
// clamp(⌈2·n^(1/3)⌉, 10, 100) bins (Rice rule); otherwise 1 ≤ bins ≤ 1000. NaN and
// ±Inf scores are skipped and counted in the figure's note. It is an error when no
// finite score remains.
func Histogram(title string, scores []float64, bins int) (*Figure, error) {
	vals, skipped, err := histogramInput("Histogram", scores, bins)
	if err != nil {
		return nil, err
	}
	edges, counts := binLinear(vals, autoBins(bins, len(vals)))
	note := joinNotes("n = "+plural(len(vals), "score"), skippedNote(skipped, "score"))
	return done("Histogram", histogramFigure(title, edges, counts, false, note))
}

// HistogramLogX is Histogram with logarithmic score bins and a log x axis, for
// scores that span decades (gradients, Fisher diagonals). Scores ≤ 0 cannot be
// placed on it: they are left out and counted in the note. It is an error when no
// positive finite score remains.
func HistogramLogX(title string, scores []float64, bins int) (*Figure, error) {
	vals, skipped, err := histogramInput("HistogramLogX", scores, bins)
	if err != nil {
		return nil, err
	}
	pos := vals[:0:0]
	var zeros, negatives int
	for _, v := range vals {
		switch {
		case v > 0:
			pos = append(pos, v)
		case v == 0:
			zeros++
		default:
			negatives++
		}
	}
	if len(pos) == 0 {
		return nil, fmt.Errorf("plot.HistogramLogX: no positive finite score to place on a log axis "+
			"(%d zero, %d negative, %d NaN/Inf); use Histogram", zeros, negatives, skipped)
	}
	edges, counts := binLog(pos, autoBins(bins, len(pos)))
	omitted := ""
	switch {
	case zeros > 0 && negatives > 0:
		omitted = fmt.Sprintf("%s and %s not shown", plural(zeros, "zero score"), plural(negatives, "negative score"))
	case zeros > 0:
		omitted = plural(zeros, "zero score") + " not shown"
	case negatives > 0:
		omitted = plural(negatives, "negative score") + " not shown"
	}
	note := joinNotes("n = "+plural(len(pos), "score"), omitted, skippedNote(skipped, "score"))
	return done("HistogramLogX", histogramFigure(title, edges, counts, true, note))
}

// HistogramCounts draws a histogram that was binned elsewhere, e.g. streamed over
// billions of weights that never sit in one slice: counts[i] is the number of values
// in [edges[i], edges[i+1]). edges must be finite and strictly increasing, and
// positive when logX is set.
func HistogramCounts(title string, edges []float64, counts []int64, logX bool) (*Figure, error) {
	if len(counts) == 0 {
		return nil, fmt.Errorf("plot.HistogramCounts: no bins")
	}
	if len(edges) != len(counts)+1 {
		return nil, fmt.Errorf("plot.HistogramCounts: %d edges for %d counts (need len(counts)+1)", len(edges), len(counts))
	}
	for i, e := range edges {
		if !isFinite(e) || (i > 0 && e <= edges[i-1]) {
			return nil, fmt.Errorf("plot.HistogramCounts: edges must be finite and strictly increasing (edge %d is %g)", i, e)
		}
	}
	if logX && edges[0] <= 0 {
		return nil, fmt.Errorf("plot.HistogramCounts: a log x axis needs positive edges (first edge is %g)", edges[0])
	}
	var total int64
	for i, c := range counts {
		if c < 0 {
			return nil, fmt.Errorf("plot.HistogramCounts: count %d is negative (%d)", i, c)
		}
		total += c
	}
	if total == 0 {
		return nil, fmt.Errorf("plot.HistogramCounts: all %d counts are zero", len(counts))
	}
	return done("HistogramCounts", histogramFigure(title, edges, counts, logX, "n = "+plural(int(total), "value")))
}

func histogramInput(fn string, scores []float64, bins int) ([]float64, int, error) {
	if bins < 0 || bins > maxBins {
		return nil, 0, fmt.Errorf("plot.%s: bins = %d (want 0 for automatic, or 1..%d)", fn, bins, maxBins)
	}
	if len(scores) == 0 {
		return nil, 0, fmt.Errorf("plot.%s: no scores", fn)
	}
	vals, skipped := finite(scores)
	if len(vals) == 0 {
		return nil, 0, fmt.Errorf("plot.%s: all %d scores are NaN or Inf", fn, len(scores))
	}
	return vals, skipped, nil
}

func autoBins(bins, n int) int {
	if bins > 0 {
		return bins
	}
	return max(minAutoBins, min(maxAutoBins, int(math.Ceil(2*math.Cbrt(float64(n))))))
}

// binLinear counts vals (finite, non-empty) into bins equal-width bins spanning
// their range; the maximum lands in the last bin. A constant gets a narrow range
// centred on it, scaled to its magnitude. Halves are used so that ranges near
// ±MaxFloat64 do not overflow.
func binLinear(vals []float64, bins int) (edges []float64, counts []int64) {
	lo, hi := minMax(vals)
	if lo == hi {
		d := math.Abs(lo) * 0.01
		if d == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	edges = linspace(lo, hi, bins+1)
	counts = make([]int64, bins)
	half := hi/2 - lo/2
	for _, v := range vals {
		counts[clampBin(int((v/2-lo/2)/half*float64(bins)), bins)]++
	}
	return edges, counts
}

// binLog counts positive vals into bins bins equal-width in log10.
func binLog(vals []float64, bins int) (edges []float64, counts []int64) {
	lo, hi := minMax(vals)
	llo, lhi := math.Log10(lo), math.Log10(hi)
	if llo == lhi {
		llo, lhi = llo-0.05, lhi+0.05
	}
	edges = linspace(llo, lhi, bins+1)
	for i := range edges {
		edges[i] = math.Pow(10, edges[i])
	}
	counts = make([]int64, bins)
	for _, v := range vals {
		counts[clampBin(int((math.Log10(v)-llo)/(lhi-llo)*float64(bins)), bins)]++
	}
	return edges, counts
}

func clampBin(i, bins int) int { return max(0, min(bins-1, i)) }

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// linspace returns n points from lo to hi inclusive, without forming hi-lo (which
// overflows for lo near -MaxFloat64 and hi near +MaxFloat64).
func linspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		t := float64(i) / float64(n-1)
		out[i] = lo*(1-t) + hi*t
	}
	out[0], out[n-1] = lo, hi
	return out
}

// histogramFigure draws counts over edges with a log count axis. The axis floor is
// 0.5 so a bin holding one value still shows as a bar.
func histogramFigure(title string, edges []float64, counts []int64, logX bool, note string) *Figure {
	p := newPlot("score", "count")
	heights := make([]float64, len(counts))
	var maxCount int64
	for i, c := range counts {
		heights[i] = math.NaN() // an empty bin has no bar on a log axis
		if c > 0 {
			heights[i] = float64(c)
		}
		maxCount = max(maxCount, c)
	}
	b := &bars{x0: edges[:len(edges)-1], x1: edges[1:], heights: heights, base: 0.5,
		colors: []color.Color{colorBlue}}
	p.Add(hGrid(), b)
	setLogAxis(&p.Y, 0.5, float64(maxCount)*2)
	p.X.Min, p.X.Max = edges[0], edges[len(edges)-1]
	if logX {
		setLogAxis(&p.X, edges[0], edges[len(edges)-1])
	}
	f := newFigure("histogram", title, p)
	f.note = note
	return f
}
