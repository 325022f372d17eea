package plot

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// sansFont is used for all text: gonum's default is a serif face, which reads poorly
// in small tick labels.
var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

const (
	titleSize = 12
	labelSize = 10
	tickSize  = 9
	smallSize = 8
)

// Colours used across figures. The first three follow the usual reading of
// perturbation groups (top-k red, random blue, bottom grey).
var (
	colorRed    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colorBlue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorGrey   = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	colorGreen  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colorPurple = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
	colorOrange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colorBrown  = color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}
	colorNote   = color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 0xff}
	colorGrid   = color.RGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
	colorNaN    = color.RGBA{R: 0xd9, G: 0xd9, B: 0xd9, A: 0xff}

	groupColors = []color.Color{colorRed, colorBlue, colorGrey, colorGreen, colorPurple, colorOrange, colorBrown}
)

// newPlot returns a gonum plot with the package's fonts.
func newPlot(xlabel, ylabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.TextStyle.Font = font.From(sansFont, titleSize)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, labelSize)
		a.Tick.Label.Font = font.From(sansFont, tickSize)
		a.Tick.Marker = safeTicks{}
	}
	p.Legend.TextStyle.Font = font.From(sansFont, tickSize)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	return p
}

// textStyle returns a plain text style of the package's font at size points.
func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(sansFont, size),
		Handler: gplot.DefaultTextHandler,
	}
}

// drawNote writes note at the bottom-left of dc in small grey text and returns the
// canvas above it. A note wider than the canvas is broken at its "; " separators.
func drawNote(dc draw.Canvas, note string) draw.Canvas {
	sty := textStyle(smallSize, colorNote)
	sty.XAlign = draw.XLeft
	sty.YAlign = draw.YBottom
	pad := vg.Points(3)
	note = wrapNote(sty, note, dc.Max.X-dc.Min.X-2*pad)
	dc.FillText(sty, vg.Point{X: dc.Min.X + pad, Y: dc.Min.Y + pad}, note)
	dc.Min.Y += sty.Height(note) + 2*pad
	return dc
}

// wrapNote greedily packs the "; "-separated parts of note into lines of at most
// width (a single part longer than width stays on its own line).
func wrapNote(sty text.Style, note string, width vg.Length) string {
	parts := strings.Split(note, "; ")
	var lines []string
	cur := ""
	for _, p := range parts {
		switch {
		case cur == "":
			cur = p
		case sty.Width(cur+"; "+p) <= width:
			cur += "; " + p
		default:
			lines = append(lines, cur)
			cur = p
		}
	}
	lines = append(lines, cur)
	return strings.Join(lines, "\n")
}

// formatValue prints a number compactly for labels: 3 significant digits, with an
// exponent only when the magnitude needs it.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 100 && a < 1e5:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) // "1313", not "1.31e+03"
	case a >= 1e-3 && a < 100:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	s := strconv.FormatFloat(v, 'e', 2, 64)
	return compactExp(s)
}

// compactExp turns "1.20e-05" into "1.2e-5".
func compactExp(s string) string {
	mant, exp, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	sign := ""
	if strings.HasPrefix(exp, "-") {
		sign = "-"
	}
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if exp == "" {
		exp = "0"
	}
	return mant + "e" + sign + exp
}

// formatPow10 labels a decade tick: plain digits between 0.001 and 10000, 1eN beyond.
func formatPow10(e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(math.Pow10(e), 'f', -1, 64)
	}
	return "1e" + strconv.Itoa(e)
}

// luminance is the relative luminance of c in [0, 1], used to choose black or white
// text on a coloured cell.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

// hGrid returns light horizontal grid lines at the major y ticks.
func hGrid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal.Color = colorGrid
	g.Horizontal.Width = vg.Points(0.5)
	return g
}

// setLogAxis makes a a log axis over [min, max] (both > 0).
func setLogAxis(a *gplot.Axis, min, max float64) {
	a.Scale = gplot.LogScale{}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = min, max
}

// decadeFloor returns the power of ten at or below v (> 0).
func decadeFloor(v float64) float64 {
	if d := math.Pow(10, math.Floor(math.Log10(v))); d > 0 {
		return d
	}
	return v // subnormal v: its decade floor underflows to 0
}

// formatCount prints n with thousands separators: 1234567 → "1,234,567".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// plural returns "1 cell" or "3 cells".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return formatCount(int64(n)) + " " + word + "s"
}

// grow returns v·factor, capped at MaxFloat64 so axis headroom never becomes +Inf.
func grow(v, factor float64) float64 {
	return math.Min(v*factor, math.MaxFloat64)
}
