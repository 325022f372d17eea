package plot

import (
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// viridisAnchors samples matplotlib's viridis at 0, 0.1, …, 1. Viridis is
// perceptually uniform and monotonic in lightness, so a heatmap stays readable in
// greyscale and for colour-blind readers; gonum ships no such sequential map.
var viridisAnchors = [...]color.RGBA{
	{0x44, 0x01, 0x54, 0xff}, {0x48, 0x24, 0x75, 0xff}, {0x41, 0x44, 0x87, 0xff},
	{0x35, 0x5f, 0x8d, 0xff}, {0x2a, 0x78, 0x8e, 0xff}, {0x21, 0x91, 0x8c, 0xff},
	{0x22, 0xa8, 0x84, 0xff}, {0x44, 0xbf, 0x70, 0xff}, {0x7a, 0xd1, 0x51, 0xff},
	{0xbd, 0xdf, 0x26, 0xff}, {0xfd, 0xe7, 0x25, 0xff},
}

// viridis maps t in [0, 1] to a colour by linear interpolation between anchors.
func viridis(t float64) color.RGBA {
	if math.IsNaN(t) {
		return colorNaN
	}
	t = math.Max(0, math.Min(1, t))
	pos := t * float64(len(viridisAnchors)-1)
	i := int(pos)
	if i >= len(viridisAnchors)-1 {
		return viridisAnchors[len(viridisAnchors)-1]
	}
	f := pos - float64(i)
	a, b := viridisAnchors[i], viridisAnchors[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-f) + float64(y)*f)) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// viridisPalette is viridis sampled at n points, for plotter.HeatMap.
type viridisPalette []color.Color

func (p viridisPalette) Colors() []color.Color { return p }

func newViridisPalette(n int) palette.Palette {
	p := make(viridisPalette, n)
	for i := range p {
		p[i] = viridis(float64(i) / float64(n-1))
	}
	return p
}

// grid adapts a row-major matrix to plotter.GridXYZ with cells at integer
// coordinates. Row 0 of rows is drawn at the top, as in a table.
type grid struct {
	rows [][]float64
}

func (g grid) Dims() (c, r int)     { return len(g.rows[0]), len(g.rows) }
func (g grid) Z(c, r int) float64   { return g.rows[len(g.rows)-1-r][c] }
func (g grid) X(c int) float64      { return float64(c) }
func (g grid) Y(r int) float64      { return float64(r) }
func (g grid) rowY(row int) float64 { return float64(len(g.rows) - 1 - row) }

// newHeatMap returns a gonum heat map of z (already in the colour domain, e.g. log10
// of the values) over [min, max], NaN cells grey.
func newHeatMap(z grid, min, max float64) *plotter.HeatMap {
	h := plotter.NewHeatMap(z, newViridisPalette(256))
	h.Min, h.Max = min, max
	h.NaN = colorNaN
	h.Underflow = viridis(0)
	h.Overflow = viridis(1)
	return h
}

// seamFill paints every cell of z slightly enlarged before the gonum heat map draws
// the exact cells on top: anti-aliased edges of adjacent cells otherwise let the
// white background through as faint lines between every row and column.
type seamFill struct {
	z        grid
	min, max float64
}

func (s *seamFill) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	cols, rows := s.z.Dims()
	grow := vg.Points(0.6)
	for r := range rows {
		for col := range cols {
			v := s.z.Z(col, r)
			clr := color.Color(colorNaN)
			if !math.IsNaN(v) {
				clr = viridis((v - s.min) / (s.max - s.min))
			}
			x0, x1 := trX(float64(col)-0.5)-grow, trX(float64(col)+0.5)+grow
			y0, y1 := trY(float64(r)-0.5)-grow, trY(float64(r)+0.5)+grow
			// Stay inside the data area: the axes are drawn just outside it.
			x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
			y0, y1 = max(y0, c.Min.Y), min(y1, c.Max.Y)
			c.FillPolygon(clr, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		}
	}
}

// cellLabels writes each cell's value at its centre, black on light cells and white
// on dark ones, and only where the text fits inside the cell.
type cellLabels struct {
	text     [][]string // row-major like grid.rows; "" skips a cell
	z        grid       // colour-domain values, to pick the text colour
	min, max float64
}

func (l *cellLabels) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	cols, rows := l.z.Dims()
	cellW := trX(1) - trX(0)
	cellH := trY(1) - trY(0)
	if cols == 1 {
		cellW = trX(0.5) - trX(-0.5)
	}
	if rows == 1 {
		cellH = trY(0.5) - trY(-0.5)
	}
	sty := textStyle(smallSize, color.Black)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YCenter
	if sty.FontExtents().Height > cellH*0.9 {
		return
	}
	for row, line := range l.text {
		for col, s := range line {
			if s == "" || sty.Width(s) > cellW*0.92 {
				continue
			}
			v := l.z.rows[row][col]
			t := (v - l.min) / (l.max - l.min)
			if l.max == l.min {
				t = 0.5
			}
			sty.Color = color.Black
			if luminance(viridis(t)) < 0.45 {
				sty.Color = color.White
			}
			c.FillText(sty, vg.Point{X: trX(float64(col)), Y: trY(l.z.rowY(row))}, s)
		}
	}
}

// colorBar is the colour scale drawn to the right of a heatmap, aligned with its
// data area, with tick labels and a rotated label on its right (gonum's ColorBar is
// a separate plot whose axis sits on its left, between bar and heatmap).
type colorBar struct {
	min, max float64 // colour-domain range
	log      bool    // the domain is log10 of the values: label ticks as 10^v
	label    string
}

var (
	colorBarGap   = vg.Points(10)
	colorBarWidth = vg.Points(11)
	colorBarTick  = vg.Points(3)
	colorBarPad   = vg.Points(3)
)

func (cb *colorBar) ticks() []gplot.Tick {
	var ticks []gplot.Tick
	if cb.log {
		for _, t := range (logTicks{}).Ticks(math.Pow(10, cb.min), math.Pow(10, cb.max)) {
			ticks = append(ticks, gplot.Tick{Value: math.Log10(t.Value), Label: t.Label})
		}
	} else {
		ticks = linearTicks(cb.min, cb.max)
	}
	out := ticks[:0]
	for _, t := range ticks {
		if t.Value >= cb.min-1e-9*math.Abs(cb.max-cb.min) && t.Value <= cb.max+1e-9*math.Abs(cb.max-cb.min) {
			out = append(out, t)
		}
	}
	return out
}

func (cb *colorBar) width() vg.Length {
	sty := textStyle(tickSize, color.Black)
	var w vg.Length
	for _, t := range cb.ticks() {
		w = max(w, sty.Width(t.Label))
	}
	w += colorBarGap + colorBarWidth + colorBarTick + 2*colorBarPad
	if cb.label != "" {
		w += textStyle(labelSize, color.Black).FontExtents().Height + colorBarPad
	}
	return w
}

// reserve returns dc without the strip the colour bar needs.
func (cb *colorBar) reserve(dc draw.Canvas) draw.Canvas {
	return draw.Crop(dc, 0, -cb.width(), 0, 0)
}

// draw paints the bar in the right strip of dc, spanning data's height.
func (cb *colorBar) draw(dc draw.Canvas, data draw.Canvas) {
	x0 := dc.Max.X - cb.width() + colorBarGap
	x1 := x0 + colorBarWidth
	y0, y1 := data.Min.Y, data.Max.Y
	const steps = 128
	for i := range steps {
		ya := y0 + (y1-y0)*vg.Length(i)/steps
		yb := y0 + (y1-y0)*vg.Length(i+1)/steps + vg.Points(1) // overlap: no seams
		yb = min(yb, y1)
		dc.FillPolygon(viridis((float64(i)+0.5)/steps),
			[]vg.Point{{X: x0, Y: ya}, {X: x1, Y: ya}, {X: x1, Y: yb}, {X: x0, Y: yb}})
	}
	frame := draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}
	dc.StrokeLines(frame, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}, {X: x0, Y: y0}})

	sty := textStyle(tickSize, color.Black)
	sty.XAlign = draw.XLeft
	sty.YAlign = draw.YCenter
	var labelW vg.Length
	span := cb.max - cb.min
	for _, t := range cb.ticks() {
		y := y0 + (y1-y0)*vg.Length((t.Value-cb.min)/span)
		tl := colorBarTick
		if t.Label == "" {
			tl /= 2
		}
		dc.StrokeLine2(frame, x1, y, x1+tl, y)
		if t.Label != "" {
			dc.FillText(sty, vg.Point{X: x1 + colorBarTick + colorBarPad, Y: y}, t.Label)
			labelW = max(labelW, sty.Width(t.Label))
		}
	}
	if cb.label != "" {
		lsty := textStyle(labelSize, color.Black)
		lsty.Rotation = math.Pi / 2
		lsty.XAlign = draw.XCenter
		lsty.YAlign = draw.YBottom
		x := x1 + colorBarTick + 2*colorBarPad + labelW + lsty.FontExtents().Height
		dc.FillText(lsty, vg.Point{X: x, Y: (y0 + y1) / 2}, cb.label)
	}
}
