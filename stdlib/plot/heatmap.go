package plot

import (
	"fmt"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
)

// maxHeatmapCells bounds a heatmap: past it cells are sub-pixel at any sane figure
// size, and the vector SVG grows by one rectangle per cell.
const maxHeatmapCells = 1 << 16

// PercentileHeatmap draws a score percentile (e.g. p99 of grad_x_weight) per layer
// (rows, first at the top) and tensor kind (columns): values[i][j] is layer i, kind
// j. A NaN cell means the layer has no tensor of that kind and is drawn grey; ±Inf is
// treated the same and counted in the note. The colour scale is logarithmic when
// every finite value is positive and they span a factor of 100 or more. Values are
// written in the cells when they fit.
func PercentileHeatmap(title string, layers []string, kinds []string, values [][]float64) (*Figure, error) {
	const fn = "PercentileHeatmap"
	if err := checkMatrix(fn, values, len(layers), len(kinds)); err != nil {
		return nil, err
	}
	z := make([][]float64, len(values))
	text := make([][]string, len(values))
	lo, hi := math.Inf(1), math.Inf(-1)
	infs, finiteCount := 0, 0
	for i, row := range values {
		z[i] = make([]float64, len(row))
		text[i] = make([]string, len(row))
		for j, v := range row {
			if !isFinite(v) {
				if math.IsInf(v, 0) {
					infs++
				}
				z[i][j] = math.NaN()
				continue
			}
			finiteCount++
			z[i][j] = v
			text[i][j] = formatValue(v)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if finiteCount == 0 {
		return nil, fmt.Errorf("plot.%s: no finite value among %d cells", fn, len(layers)*len(kinds))
	}
	logScale := spansDecades(lo, hi)
	if logScale {
		for _, row := range z {
			for j, v := range row {
				row[j] = math.Log10(v) // NaN stays NaN
			}
		}
		lo, hi = math.Log10(lo), math.Log10(hi)
	}
	if math.IsInf(hi-lo, 0) {
		return nil, fmt.Errorf("plot.%s: values from %g to %g span more than float64 can represent", fn, lo, hi)
	}
	missing := len(layers)*len(kinds) - finiteCount - infs
	notes := []string{}
	if missing > 0 {
		notes = append(notes, plural(missing, "missing cell")+" (grey)")
	}
	if infs > 0 {
		notes = append(notes, plural(infs, "Inf cell")+" skipped (grey)")
	}
	f := heatmapFigure("percentile heatmap", title, layers, kinds, z, text, lo, hi, logScale)
	f.plot.X.Label.Text = "tensor kind"
	f.plot.Y.Label.Text = "layer"
	f.note = joinNotes(notes...)
	return done(fn, f)
}

// Stability draws the Jaccard overlap of the top-k sets between seeds: labels name
// the seeds (or runs), jaccard[i][j] is the overlap of runs i and j, in [0, 1] (NaN
// for a pair not computed). The matrix must be square and symmetric where both
// halves are given. Cells are annotated with their value when they fit, and the note
// summarises the pairs (i < j): mean, min and max.
func Stability(title string, labels []string, jaccard [][]float64) (*Figure, error) {
	const fn = "Stability"
	if len(labels) < 2 {
		return nil, fmt.Errorf("plot.%s: %d runs; stability needs at least 2 to compare", fn, len(labels))
	}
	if err := checkMatrix(fn, jaccard, len(labels), len(labels)); err != nil {
		return nil, err
	}
	n := len(labels)
	z := make([][]float64, n)
	text := make([][]string, n)
	for i, row := range jaccard {
		z[i] = make([]float64, n)
		text[i] = make([]string, n)
		for j, v := range row {
			if math.IsNaN(v) {
				z[i][j] = math.NaN()
				continue
			}
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("plot.%s: jaccard[%d][%d] = %g is outside [0, 1]", fn, i, j, v)
			}
			if w := jaccard[j][i]; !math.IsNaN(w) && math.Abs(w-v) > 1e-9 {
				return nil, fmt.Errorf("plot.%s: matrix not symmetric: jaccard[%d][%d] = %g but jaccard[%d][%d] = %g",
					fn, i, j, v, j, i, w)
			}
			z[i][j] = v
			text[i][j] = fmt.Sprintf("%.2f", v)
		}
	}
	var sum float64
	pairs := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range n {
		for j := i + 1; j < n; j++ {
			v := z[i][j]
			if math.IsNaN(v) {
				v = z[j][i]
			}
			if math.IsNaN(v) {
				continue
			}
			sum += v
			pairs++
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if pairs == 0 {
		return nil, fmt.Errorf("plot.%s: no pair of different runs has a value (all off-diagonal cells are NaN)", fn)
	}
	f := heatmapFigure("stability", title, labels, labels, z, text, 0, 1, false)
	f.colorBar.label = "Jaccard overlap"
	f.note = fmt.Sprintf("Jaccard over %s: mean %.3f, min %.3f, max %.3f", plural(pairs, "pair"), sum/float64(pairs), lo, hi)
	return done(fn, f)
}

// checkMatrix validates a rows×cols matrix against its label counts.
func checkMatrix(fn string, m [][]float64, rows, cols int) error {
	if rows == 0 || cols == 0 {
		return fmt.Errorf("plot.%s: empty matrix (%d row labels, %d column labels)", fn, rows, cols)
	}
	if rows*cols > maxHeatmapCells {
		return fmt.Errorf("plot.%s: %d×%d = %d cells is more than %d", fn, rows, cols, rows*cols, maxHeatmapCells)
	}
	if len(m) != rows {
		return fmt.Errorf("plot.%s: %d rows of values for %d row labels", fn, len(m), rows)
	}
	for i, row := range m {
		if len(row) != cols {
			return fmt.Errorf("plot.%s: row %d has %d values for %d column labels", fn, i, len(row), cols)
		}
	}
	return nil
}

// heatmapFigure draws z (colour domain, row 0 at the top) with cell text, nominal
// axes and a colour bar over [lo, hi].
func heatmapFigure(kind, title string, rows, cols []string, z [][]float64, text [][]string, lo, hi float64, logScale bool) *Figure {
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5 // one value: any colour, but a valid range
	}
	g := grid{rows: z}
	p := newPlot("", "")
	p.Add(&seamFill{z: g, min: lo, max: hi}, newHeatMap(g, lo, hi), &cellLabels{text: text, z: g, min: lo, max: hi})
	p.X.Min, p.X.Max = -0.5, float64(len(cols))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(rows))-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	xl := nominalLayout{labels: cols, keep: -1}
	yl := nominalLayout{labels: rows, reversed: true, keep: -1}
	f := newFigure(kind, title, p)
	f.colorBar = &colorBar{min: lo, max: hi, log: logScale}
	f.layout = func(p *gplot.Plot, dc draw.Canvas) {
		xl.apply(&p.X, dc.Max.X-dc.Min.X, true)
		yl.apply(&p.Y, dc.Max.Y-dc.Min.Y, false)
	}
	return f
}
