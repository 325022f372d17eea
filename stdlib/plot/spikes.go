package plot

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ActivationSpikes draws, per layer, the largest |input| and |output| activation of
// mlp.down_proj on a log axis: super weights show as a spike orders of magnitude
// above the other layers (Llama-7B: layer 2, input ≈ 560, output ≈ 1313). Values are
// plotted as magnitudes (the sign is dropped). Layers need not be sorted but must be
// distinct. Zero, NaN and ±Inf values cannot sit on a log axis: they are left out
// and counted in the note. The note also states each peak against the median layer.
func ActivationSpikes(title string, layers []int, maxInput, maxOutput []float64) (*Figure, error) {
	const fn = "ActivationSpikes"
	if len(layers) == 0 {
		return nil, fmt.Errorf("plot.%s: no layers", fn)
	}
	if len(maxInput) != len(layers) || len(maxOutput) != len(layers) {
		return nil, fmt.Errorf("plot.%s: %d layers but %d maxInput and %d maxOutput values (need one each)",
			fn, len(layers), len(maxInput), len(maxOutput))
	}
	order := make([]int, len(layers))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return layers[order[a]] < layers[order[b]] })
	for k := 1; k < len(order); k++ {
		if layers[order[k]] == layers[order[k-1]] {
			return nil, fmt.Errorf("plot.%s: layer %d appears twice", fn, layers[order[k]])
		}
	}

	p := newPlot("layer", "max |activation| of down_proj")
	lo, hi := math.Inf(1), math.Inf(-1)
	var notes []string
	omitted := 0
	type series struct {
		name  string
		vals  []float64
		color color.Color
		shape draw.GlyphDrawer
	}
	all := []series{
		{"max |input|", maxInput, colorBlue, draw.CircleGlyph{}},
		{"max |output|", maxOutput, colorRed, draw.TriangleGlyph{}},
	}
	var peaks plotter.XYLabels
	for _, s := range all {
		var pts plotter.XYs
		for _, i := range order {
			v := math.Abs(s.vals[i])
			if !isFinite(v) || v == 0 {
				omitted++
				continue
			}
			pts = append(pts, plotter.XY{X: float64(layers[i]), Y: v})
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("plot.%s: %w", fn, err)
		}
		line.Color = s.color
		line.Width = vg.Points(1.2)
		points.Color = s.color
		points.Shape = s.shape
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)

		peak := 0
		ys := make([]float64, len(pts))
		for k, pt := range pts {
			ys[k] = pt.Y
			if pt.Y > pts[peak].Y {
				peak = k
			}
		}
		slices.Sort(ys)
		median := ys[len(ys)/2]
		if len(ys)%2 == 0 {
			median = (ys[len(ys)/2-1] + ys[len(ys)/2]) / 2
		}
		peaks.XYs = append(peaks.XYs, pts[peak])
		peaks.Labels = append(peaks.Labels, fmt.Sprintf("L%d: %s", int(pts[peak].X), formatValue(pts[peak].Y)))
		notes = append(notes, fmt.Sprintf("%s peaks at layer %d: %s (%s× median)",
			s.name, int(pts[peak].X), formatValue(pts[peak].Y), formatValue(pts[peak].Y/median)))
	}
	if len(peaks.XYs) == 0 {
		return nil, fmt.Errorf("plot.%s: no positive finite value to place on a log axis", fn)
	}
	labels, err := plotter.NewLabels(peaks)
	if err != nil {
		return nil, fmt.Errorf("plot.%s: %w", fn, err)
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i] = textStyle(smallSize, color.Black)
		labels.TextStyle[i].XAlign = draw.XLeft
		labels.TextStyle[i].YAlign = draw.YCenter
	}
	labels.Offset = vg.Point{X: vg.Points(5)}
	p.Add(labels)

	if hi/lo < 10 {
		lo, hi = lo/2, grow(hi, 2) // flat curves: still show a decade of context
	}
	setLogAxis(&p.Y, decadeFloor(lo), grow(hi, 20)) // headroom for the legend above the data
	minL, maxL := float64(layers[order[0]]), float64(layers[order[len(order)-1]])
	if minL == maxL {
		minL, maxL = minL-1, maxL+1
	}
	// Room on the right for a peak label at the last layer.
	p.X.Min, p.X.Max = minL, maxL+0.12*(maxL-minL)
	p.X.Tick.Marker = intTicks{}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(hGrid())

	f := newFigure("activation spikes", title, p)
	if omitted > 0 {
		notes = append(notes, plural(omitted, "zero or NaN/Inf value")+" not shown")
	}
	f.note = joinNotes(notes...)
	return done(fn, f)
}
