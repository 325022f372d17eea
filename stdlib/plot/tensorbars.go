package plot

import (
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
)

// TensorBars compares one value per tensor (a score statistic, ΔPPL, a count) as
// bars. names are Hugging Face parameter names, shown shortened by ShortName
// ("L3.mlp.down"); labels are rotated or thinned as the figure width requires. The
// y axis is logarithmic when every value is positive and they span a factor of 100
// or more, linear otherwise. NaN/±Inf values get no bar and are counted in the note.
func TensorBars(title string, names []string, values []float64, ylabel string) (*Figure, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("plot.TensorBars: no values")
	}
	if err := checkLabels("TensorBars", "names", len(names), len(values)); err != nil {
		return nil, err
	}
	heights := make([]float64, len(values))
	lo, hi := math.Inf(1), math.Inf(-1)
	skipped, top := 0, -1
	for i, v := range values {
		if !isFinite(v) {
			heights[i] = math.NaN()
			skipped++
			continue
		}
		heights[i] = v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		if top < 0 || math.Abs(v) > math.Abs(values[top]) {
			top = i
		}
	}
	if skipped == len(values) {
		return nil, fmt.Errorf("plot.TensorBars: all %d values are NaN or Inf", len(values))
	}
	p := newPlot("", ylabel)
	b := nominalBars(heights, 0.8)
	b.colors = []color.Color{colorBlue}
	logY := spansDecades(lo, hi)
	if logY {
		b.base = decadeFloor(lo)
		p.Add(hGrid(), b)
		setLogAxis(&p.Y, b.base, grow(hi, 1.5))
	} else {
		p.Add(hGrid(), b)
		// Bars grow from zero; the axis includes it.
		p.Y.Min, p.Y.Max = math.Min(0, lo), math.Max(0, hi)
		if p.Y.Min == p.Y.Max {
			p.Y.Max = 1
		}
	}
	p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	p.X.Padding = 0
	labels := nominalLayout{labels: shortNames(names), keep: top}
	f := newFigure("tensor bars", title, p)
	f.layout = func(p *gplot.Plot, dc draw.Canvas) { labels.apply(&p.X, dc.Max.X-dc.Min.X, true) }
	f.note = joinNotes(skippedNote(skipped, "value"))
	return done("TensorBars", f)
}
