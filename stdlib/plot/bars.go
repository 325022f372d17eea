package plot

import (
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// bars draws filled rectangles from base to each height, with optional error bars
// and value labels. gonum's BarChart always starts bars at 0, which a log axis cannot
// show; here the base is chosen by the caller (the axis floor on log axes).
type bars struct {
	x0, x1  []float64 // left and right edges in data units
	heights []float64 // NaN: no bar
	base    float64
	colors  []color.Color // per bar; cycles when shorter
	outline bool

	// errLo, errHi are the error-bar ends in data units (nil: none; NaN: none for
	// that bar). Ends below base are drawn at base.
	errLo, errHi []float64
	// labels are drawn above each bar (above its error bar when present), or
	// above labelAt[i] when that is set and higher (points drawn over the bar).
	labels  []string
	labelAt []float64
}

func (b *bars) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	clampY := func(v float64) vg.Length {
		// Keep everything inside the axis range (on a log axis that also keeps
		// values positive), so nothing is drawn over the axes or title.
		v = math.Max(v, p.Y.Min)
		v = math.Min(v, p.Y.Max)
		return trY(v)
	}
	edge := draw.LineStyle{Color: color.RGBA{A: 0x90}, Width: vg.Points(0.5)}
	for i, h := range b.heights {
		if math.IsNaN(h) {
			continue
		}
		x0, x1 := trX(b.x0[i]), trX(b.x1[i])
		y0, y1 := clampY(b.base), clampY(h)
		if y1 < y0 {
			y0, y1 = y1, y0
		}
		rect := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.colors[i%len(b.colors)], rect)
		if b.outline {
			c.StrokeLines(edge, append(rect, rect[0]))
		}
	}
	errSty := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	labelSty := textStyle(smallSize, color.Black)
	labelSty.XAlign = draw.XCenter
	labelSty.YAlign = draw.YBottom
	for i, h := range b.heights {
		if math.IsNaN(h) {
			continue
		}
		xm := trX((b.x0[i] + b.x1[i]) / 2)
		top := clampY(h)
		if b.errLo != nil && !math.IsNaN(b.errLo[i]) && !math.IsNaN(b.errHi[i]) {
			lo, hi := clampY(b.errLo[i]), clampY(b.errHi[i])
			capW := (trX(b.x1[i]) - trX(b.x0[i])) / 6
			c.StrokeLine2(errSty, xm, lo, xm, hi)
			c.StrokeLine2(errSty, xm-capW, hi, xm+capW, hi)
			if b.errLo[i] > p.Y.Min {
				c.StrokeLine2(errSty, xm-capW, lo, xm+capW, lo)
			}
			top = max(top, hi)
		}
		if b.labelAt != nil && !math.IsNaN(b.labelAt[i]) {
			top = max(top, clampY(b.labelAt[i]))
		}
		if b.labels != nil && b.labels[i] != "" {
			c.FillText(labelSty, vg.Point{X: xm, Y: top + vg.Points(4)}, b.labels[i])
		}
	}
}

func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	ymin, ymax = b.base, b.base
	for i, h := range b.heights {
		if math.IsNaN(h) {
			continue
		}
		xmin, xmax = math.Min(xmin, b.x0[i]), math.Max(xmax, b.x1[i])
		ymin, ymax = math.Min(ymin, h), math.Max(ymax, h)
		if b.errHi != nil && !math.IsNaN(b.errHi[i]) {
			ymax = math.Max(ymax, b.errHi[i])
		}
	}
	return xmin, xmax, ymin, ymax
}

// nominalBars returns bars centred on 0..n-1 with the given width fraction.
func nominalBars(heights []float64, width float64) *bars {
	b := &bars{heights: heights, x0: make([]float64, len(heights)), x1: make([]float64, len(heights))}
	for i := range heights {
		b.x0[i] = float64(i) - width/2
		b.x1[i] = float64(i) + width/2
	}
	return b
}
