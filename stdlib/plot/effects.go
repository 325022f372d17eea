package plot

import (
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// EffectGroup is one bar of PerturbationEffects: the effect of perturbing one weight
// set (top_k, random_k, bottom_k, …) across seeds. Mean and Std are drawn as the bar
// and its error bar; Values (one per seed, may be empty) are overlaid as points.
// NewEffectGroup fills Mean and Std from Values.
type EffectGroup struct {
	Label     string
	Mean, Std float64
	Values    []float64
}

// NewEffectGroup returns the group for per-seed values, with Mean their mean and
// Std their sample standard deviation (n−1; 0 for a single value). NaN/±Inf values
// are kept in Values (the plot skips and counts them) but left out of Mean and Std.
func NewEffectGroup(label string, values []float64) EffectGroup {
	vals, _ := finite(values)
	g := EffectGroup{Label: label, Values: values, Mean: math.NaN(), Std: math.NaN()}
	if len(vals) == 0 {
		return g
	}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	g.Mean = sum / float64(len(vals))
	g.Std = 0
	if len(vals) > 1 {
		var ss float64
		for _, v := range vals {
			ss += (v - g.Mean) * (v - g.Mean)
		}
		g.Std = math.Sqrt(ss / float64(len(vals)-1))
	}
	return g
}

// PerturbationEffects draws, per group, a bar at Mean with a ±Std error bar and the
// per-seed Values as points, each bar labelled "mean ± std". Groups are coloured in
// order red, blue, grey, … (pass top_k first, then the controls). The y axis is
// logarithmic when every mean and value is positive and they span a factor of 100
// or more — the case ESA hopes for, ΔPPL(top) ≫ ΔPPL(random) — and linear
// otherwise; on a log axis an error bar reaching zero or below is cut at the axis.
// A group needs a finite Mean and a finite Std ≥ 0.
func PerturbationEffects(title string, groups []EffectGroup) (*Figure, error) {
	const fn = "PerturbationEffects"
	if len(groups) == 0 {
		return nil, fmt.Errorf("plot.%s: no groups", fn)
	}
	heights := make([]float64, len(groups))
	errLo := make([]float64, len(groups))
	errHi := make([]float64, len(groups))
	labels := make([]string, len(groups))
	labelAt := make([]float64, len(groups))
	names := make([]string, len(groups))
	var pts plotter.XYs
	skipped := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	allPositive := true
	for i, g := range groups {
		if !isFinite(g.Mean) {
			return nil, fmt.Errorf("plot.%s: group %d (%q) has mean %g (need a finite mean; NewEffectGroup computes it from values)",
				fn, i, g.Label, g.Mean)
		}
		if !isFinite(g.Std) || g.Std < 0 {
			return nil, fmt.Errorf("plot.%s: group %d (%q) has std %g (need a finite std ≥ 0)", fn, i, g.Label, g.Std)
		}
		names[i] = g.Label
		if names[i] == "" {
			names[i] = fmt.Sprintf("group %d", i)
		}
		heights[i] = g.Mean
		errLo[i], errHi[i] = g.Mean-g.Std, g.Mean+g.Std
		labels[i] = formatValue(g.Mean)
		if g.Std > 0 {
			labels[i] += " ± " + formatValue(g.Std)
		}
		lo, hi = math.Min(lo, g.Mean), math.Max(hi, errHi[i])
		allPositive = allPositive && g.Mean > 0
		vals, s := finite(g.Values)
		skipped += s
		labelAt[i] = errHi[i]
		for k, v := range vals {
			// Spread the seeds evenly across the middle of the bar, so equal values
			// do not hide one another (deterministic: no jitter seed).
			dx := 0.0
			if len(vals) > 1 {
				dx = -0.2 + 0.4*float64(k)/float64(len(vals)-1)
			}
			pts = append(pts, plotter.XY{X: float64(i) + dx, Y: v})
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			labelAt[i] = math.Max(labelAt[i], v)
			allPositive = allPositive && v > 0
		}
	}
	p := newPlot("", "effect (e.g. ΔPPL)")
	b := nominalBars(heights, 0.6)
	b.colors = groupColors
	b.outline = true
	b.errLo, b.errHi, b.labels, b.labelAt = errLo, errHi, labels, labelAt
	logY := allPositive && spansDecades(lo, hi)
	if logY {
		b.base = decadeFloor(lo)
		// Headroom above the tallest bar for its label: a factor on a log axis.
		setLogAxis(&p.Y, b.base, grow(hi, 4))
	} else {
		lo, hi = math.Min(0, lo), math.Max(0, hi)
		if lo == hi {
			hi = 1
		}
		p.Y.Min, p.Y.Max = lo, math.Min(hi+0.24*(hi/2-lo/2), math.MaxFloat64)
	}
	p.Add(hGrid(), b)
	if len(pts) > 0 {
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, fmt.Errorf("plot.%s: %w", fn, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
		p.Add(s)
		// Add widened the axis to the points; the ranges above already hold them.
	}
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	p.X.Padding = 0
	p.X.Tick.Label.Font.Size = labelSize
	xl := nominalLayout{labels: names, keep: -1}
	f := newFigure("perturbation effects", title, p)
	f.layout = func(p *gplot.Plot, dc draw.Canvas) { xl.apply(&p.X, dc.Max.X-dc.Min.X, true) }
	seeds := 0
	for _, g := range groups {
		seeds = max(seeds, len(g.Values))
	}
	notes := []string{}
	if seeds > 0 {
		notes = append(notes, fmt.Sprintf("bars: mean ± std; points: per-seed values (up to %d per group)", seeds))
	}
	f.note = joinNotes(append(notes, skippedNote(skipped, "seed value"))...)
	return done(fn, f)
}
