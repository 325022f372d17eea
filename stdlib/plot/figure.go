// Package plot draws the figures ESA users look at (score distributions, per-tensor
// bars, per-layer heatmaps, perturbation effects, stability, activation spikes) as
// static images, so they persist in saved notebooks and in --save-plots output.
//
// Every constructor returns (*Figure, error): an input that cannot be drawn (empty
// data, mismatched lengths, no finite value) is an error, never a figure that hides
// the problem. Non-finite values in otherwise valid data are skipped and the figure
// says how many in a note under the plot.
//
// The API is notebook-facing (called from yaegi-interpreted cells): no generics, no
// variadic interface parameters, plain slices and structs as inputs, and setters on
// *Figure instead of package variables.
package plot

import (
	"bytes"
	"encoding/base64"
	"esa/internal/atomicfile"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"sync"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	defaultWidthInch  = 6
	defaultHeightInch = 4
	defaultDPI        = 96
	// maxSizeInch bounds a figure side: beyond it a PNG gets large enough (tens of
	// megapixels at high DPI) to stall a notebook, and it is almost surely a unit
	// mistake (pixels passed as inches).
	maxSizeInch = 50
	maxDPI      = 600
)

// Figure is a rendered-on-demand plot. It keeps the gonum plot it was built from, so
// setters can change the size, title or labels before rendering. A Figure is safe
// for concurrent use; renders are serialised.
type Figure struct {
	mu sync.Mutex

	kind  string // what the figure shows, used when the title is empty
	title string
	note  string // small text under the plot: skipped values, counts, summaries

	plot     *gplot.Plot
	colorBar *colorBar // nil when the figure has no colour scale
	// layout, when set, adapts size-dependent choices (tick label thinning and
	// rotation) to the canvas the plot gets; it runs at every render because the
	// size can change after construction.
	layout func(p *gplot.Plot, dc draw.Canvas)

	widthInch, heightInch float64
	dpi                   int
}

// newFigure wraps a gonum plot with the package's defaults.
func newFigure(kind, title string, p *gplot.Plot) *Figure {
	f := &Figure{
		kind:       kind,
		plot:       p,
		widthInch:  defaultWidthInch,
		heightInch: defaultHeightInch,
		dpi:        defaultDPI,
	}
	f.setTitle(title)
	return f
}

// SetSize sets the figure size in inches (default 6×4). Invalid sizes are reported
// by the next render rather than silently replaced.
func (f *Figure) SetSize(widthInch, heightInch float64) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.widthInch, f.heightInch = widthInch, heightInch
	return f
}

// SetDPI sets the PNG resolution in dots per inch (default 96). SVG ignores it.
func (f *Figure) SetDPI(dpi int) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dpi = dpi
	return f
}

// SetTitle replaces the title.
func (f *Figure) SetTitle(title string) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setTitle(title)
	return f
}

func (f *Figure) setTitle(title string) {
	f.title = title
	f.plot.Title.Text = title
}

// SetXLabel replaces the x-axis label.
func (f *Figure) SetXLabel(label string) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plot.X.Label.Text = label
	return f
}

// SetYLabel replaces the y-axis label.
func (f *Figure) SetYLabel(label string) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plot.Y.Label.Text = label
	return f
}

// SetColorLabel replaces the label of the colour bar (heatmaps only; a no-op on
// figures without one).
func (f *Figure) SetColorLabel(label string) *Figure {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.colorBar != nil {
		f.colorBar.label = label
	}
	return f
}

// Title returns the figure title.
func (f *Figure) Title() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.title
}

// Note returns the note printed under the plot (skipped values, summaries), or "".
func (f *Figure) Note() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.note
}

// String describes the figure in one line, e.g. "<Figure: score distribution, 6x4 in>".
func (f *Figure) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.TrimSpace(strings.SplitN(f.title, "\n", 2)[0])
	if name == "" {
		name = f.kind
	}
	return fmt.Sprintf("<Figure: %s, %gx%g in>", name, f.widthInch, f.heightInch)
}

func (f *Figure) checkSize() error {
	for _, s := range []float64{f.widthInch, f.heightInch} {
		if !(s > 0 && s <= maxSizeInch) { // also rejects NaN
			return fmt.Errorf("plot: invalid figure size %gx%g in (each side must be in (0, %d] inches)",
				f.widthInch, f.heightInch, maxSizeInch)
		}
	}
	if f.dpi < 1 || f.dpi > maxDPI {
		return fmt.Errorf("plot: invalid DPI %d (must be in [1, %d])", f.dpi, maxDPI)
	}
	return nil
}

// PNG renders the figure as a PNG image.
func (f *Figure) PNG() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkSize(); err != nil {
		return nil, err
	}
	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(f.widthInch)*vg.Inch, vg.Length(f.heightInch)*vg.Inch),
		vgimg.UseDPI(f.dpi),
	)
	if err := f.render(draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// SVG renders the figure as an SVG document. Fonts are referenced by name, not
// embedded, which keeps the file small (embedding adds about 0.5 MB).
func (f *Figure) SVG() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkSize(); err != nil {
		return nil, err
	}
	c := vgsvg.New(vg.Length(f.widthInch)*vg.Inch, vg.Length(f.heightInch)*vg.Inch)
	if err := f.render(draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: encoding SVG: %w", err)
	}
	return buf.Bytes(), nil
}

// Save writes the figure to path, choosing the format from the extension (.png or
// .svg). The file is written to a temporary name in the same directory and renamed,
// so a reader never sees a partial image.
func (f *Figure) Save(path string) error {
	var (
		data []byte
		err  error
	)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		data, err = f.PNG()
	case ".svg":
		data, err = f.SVG()
	default:
		return fmt.Errorf("plot: cannot save %q: unknown extension %q (valid: .png, .svg)", path, ext)
	}
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("plot: saving %s: %w", path, err)
	}
	return nil
}

// MIMEBundle is how the display package shows a figure in Jupyter: "image/png" holds
// the base64-encoded PNG, "text/plain" a one-line description. When rendering fails
// the bundle holds only "text/plain" with the error, so the notebook shows why.
func (f *Figure) MIMEBundle() map[string]any {
	desc := f.String()
	data, err := f.PNG()
	if err != nil {
		return map[string]any{"text/plain": desc + " (render failed: " + err.Error() + ")"}
	}
	return map[string]any{
		"image/png":  base64.StdEncoding.EncodeToString(data),
		"text/plain": desc,
	}
}

// render draws the whole figure: the note strip at the bottom, the colour bar at the
// right, the gonum plot in the rest. gonum panics on some degenerate ranges; the
// constructors validate inputs so that should not happen, but a panic must never
// reach a notebook cell, so it becomes an error.
func (f *Figure) render(dc draw.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: rendering %s: %v", f.kind, r)
		}
	}()
	if f.plot.BackgroundColor != nil {
		dc.SetColor(f.plot.BackgroundColor)
		dc.Fill(dc.Rectangle.Path())
	}
	if f.note != "" {
		dc = drawNote(dc, f.note)
	}
	dc.Max.Y -= vg.Points(3) // keep the title off the image edge
	if f.colorBar == nil {
		dc.Max.X -= vg.Points(10) // room for the last x tick label and bar
	}
	// gonum places the glyph box of an axis label at the data midpoint, which on a
	// log axis is near the top or right end: it then pads the plot by up to an inch.
	// So the axis labels are drawn here, centred on the data area, and gonum's are
	// left empty while it draws.
	xlabel, ylabel := f.plot.X.Label.Text, f.plot.Y.Label.Text
	f.plot.X.Label.Text, f.plot.Y.Label.Text = "", ""
	defer func() { f.plot.X.Label.Text, f.plot.Y.Label.Text = xlabel, ylabel }()
	lsty := textStyle(labelSize, color.Black)
	gap := vg.Points(2)
	if ylabel != "" {
		dc.Min.X += lsty.FontExtents().Height + gap
	}
	if xlabel != "" {
		dc.Min.Y += lsty.Height(xlabel) + gap
	}
	area := dc
	if f.colorBar != nil {
		area = f.colorBar.reserve(dc)
	}
	if f.layout != nil {
		// Two passes: the first guess changes the tick labels, which changes the
		// space the data area gets; the second uses that space.
		f.layout(f.plot, area)
		f.layout(f.plot, f.plot.DataCanvas(area))
	}
	data := f.plot.DataCanvas(area)
	if f.colorBar != nil {
		f.colorBar.draw(dc, data)
	}
	if ylabel != "" {
		sty := lsty
		sty.Rotation = math.Pi / 2
		sty.XAlign = draw.XCenter
		sty.YAlign = draw.YTop
		dc.FillText(sty, vg.Point{X: dc.Min.X - gap - lsty.FontExtents().Height, Y: (data.Min.Y + data.Max.Y) / 2}, ylabel)
	}
	if xlabel != "" {
		sty := lsty
		sty.XAlign = draw.XCenter
		sty.YAlign = draw.YTop
		dc.FillText(sty, vg.Point{X: (data.Min.X + data.Max.X) / 2, Y: dc.Min.Y - gap}, xlabel)
	}
	f.plot.Draw(area)
	return nil
}

// checkAxes rejects axis ranges gonum cannot draw: a span that overflows float64
// (data near ±MaxFloat64) turns every coordinate into NaN, on which the rasteriser
// spins instead of failing. Real ESA data never gets near; a constructor must still
// return an error rather than a figure that hangs.
func checkAxes(fn string, p *gplot.Plot) error {
	for _, a := range []struct {
		name string
		ax   *gplot.Axis
	}{{"x", &p.X}, {"y", &p.Y}} {
		lo, hi := a.ax.Min, a.ax.Max
		bad := !isFinite(lo) || !isFinite(hi) || hi < lo
		if _, log := a.ax.Scale.(gplot.LogScale); log {
			bad = bad || lo <= 0 || math.IsInf(hi/lo, 0)
		} else {
			bad = bad || math.IsInf(hi-lo, 0)
		}
		if bad {
			return fmt.Errorf("plot.%s: cannot draw a %s axis over [%g, %g]: the values span more than float64 can represent",
				fn, a.name, lo, hi)
		}
	}
	return nil
}

// done finishes a constructor: the figure, or an error when its axes cannot be drawn.
func done(fn string, f *Figure) (*Figure, error) {
	if err := checkAxes(fn, f.plot); err != nil {
		return nil, err
	}
	return f, nil
}
