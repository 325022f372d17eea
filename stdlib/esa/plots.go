package esa

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"esa/stdlib/plot"
)

// Plot is one figure SavePlots wrote, or why it did not.
type Plot struct {
	File    string `json:"file"`
	Skipped string `json:"skipped,omitempty"`
}

// SavePlots writes the run's figures as PNGs into dir/plots (the
// --save-plots set): score distribution, per-tensor comparison, heatmap of
// per-tensor percentiles by layer, perturbation effects with controls,
// stability across seeds, and the super-weight activation spikes. A figure
// whose data cannot be drawn (say every ΔPPL is infinite after bit flips) is
// skipped with the reason, not an error.
func (r *Results) SavePlots(dir string) ([]Plot, error) {
	pdir := filepath.Join(dir, "plots")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var out []Plot
	save := func(name string, f *plot.Figure, err error) error {
		p := Plot{File: filepath.Join(pdir, name)}
		if err != nil {
			p.Skipped = err.Error()
			out = append(out, p)
			return nil
		}
		if err := f.Save(p.File); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	}
	metric := string(r.Sensitivity.Metric)

	// Score distribution: log-spaced bins when scores span decades.
	var f *plot.Figure
	var err error
	if positive(r.Sensitivity.Sample) {
		f, err = plot.HistogramLogX(fmt.Sprintf("%s scores (uniform sample of %d)", metric, len(r.Sensitivity.Sample)), r.Sensitivity.Sample, 0)
	} else {
		f, err = plot.Histogram(fmt.Sprintf("%s scores (uniform sample of %d)", metric, len(r.Sensitivity.Sample)), r.Sensitivity.Sample, 0)
	}
	if err := save("score_distribution.png", f, err); err != nil {
		return out, err
	}

	// Per-tensor comparison: p99 of each tensor.
	names := make([]string, len(r.Sensitivity.Tensors))
	p99 := make([]float64, len(names))
	for i, t := range r.Sensitivity.Tensors {
		names[i], p99[i] = t.Name, t.P99
	}
	f, err = plot.TensorBars(fmt.Sprintf("p99 of %s per tensor", metric), names, p99, "p99 score")
	if err := save("per_tensor_p99.png", f, err); err != nil {
		return out, err
	}

	// Heatmap: layers × tensor kinds of p99.
	layers, kinds, grid := percentileGrid(r.Sensitivity.Tensors)
	f, err = plot.PercentileHeatmap(fmt.Sprintf("p99 of %s by layer and tensor", metric), layers, kinds, grid)
	if err := save("percentile_heatmap.png", f, err); err != nil {
		return out, err
	}

	if p := r.Perturbation; p != nil {
		var groups []plot.EffectGroup
		for _, s := range p.Summary {
			var v []float64
			for _, sr := range p.Seeds {
				for _, x := range sr.Sets {
					if x.Kind == s.Kind {
						v = append(v, x.DeltaPPL)
					}
				}
			}
			groups = append(groups, plot.NewEffectGroup(s.Kind, v))
		}
		f, err = plot.PerturbationEffects(fmt.Sprintf("ΔPPL after %s (mean ± std over %d seeds)", r.Config.Perturb, len(p.Seeds)), groups)
		if err := save("perturbation_effects.png", f, err); err != nil {
			return out, err
		}
	}

	if st := r.Stability; st != nil {
		n := len(st.Seeds)
		labels := make([]string, n)
		m := make([][]float64, n)
		for i := range m {
			labels[i] = "seed " + strconv.FormatUint(st.Seeds[i], 10)
			m[i] = make([]float64, n)
			m[i][i] = 1
		}
		for _, p := range st.Overlaps.Pairs {
			m[p.I][p.J], m[p.J][p.I] = p.Jaccard, p.Jaccard
		}
		f, err = plot.Stability(fmt.Sprintf("Jaccard overlap of top-k sets (%s, k=%d)", metric, r.Config.TopK), labels, m)
		if err := save("stability.png", f, err); err != nil {
			return out, err
		}
	}

	if sw := r.SuperWeights; sw != nil {
		var ls []int
		var in, o []float64
		for _, l := range sw.Report.Layers {
			ls = append(ls, l.Layer)
			in = append(in, l.MaxInput)
			o = append(o, l.MaxOutput)
		}
		f, err = plot.ActivationSpikes("mlp.down_proj max |activation| per layer", ls, in, o)
		if err := save("activation_spikes.png", f, err); err != nil {
			return out, err
		}
	}
	return out, nil
}

func positive(v []float64) bool {
	for _, x := range v {
		if x > 0 && !math.IsInf(x, 0) {
			return true
		}
	}
	return false
}

var layerName = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)\.weight$`)

// percentileGrid arranges per-tensor p99 as rows = layers (plus one row per
// tensor outside the layers, e.g. the embedding) and columns = tensor kinds
// (self_attn.q_proj, mlp.down_proj, …); missing cells are NaN.
func percentileGrid(ts []TensorScoreStats) (rows, cols []string, grid [][]float64) {
	rowIdx, colIdx := map[string]int{}, map[string]int{}
	type cell struct {
		r, c int
		v    float64
	}
	var cells []cell
	for _, t := range ts {
		row, col := plot.ShortName(t.Name), "weight"
		if m := layerName.FindStringSubmatch(t.Name); m != nil {
			row, col = "layer "+m[1], m[2]
		}
		if _, ok := rowIdx[row]; !ok {
			rowIdx[row] = len(rows)
			rows = append(rows, row)
		}
		if _, ok := colIdx[col]; !ok {
			colIdx[col] = len(cols)
			cols = append(cols, col)
		}
		cells = append(cells, cell{rowIdx[row], colIdx[col], t.P99})
	}
	grid = make([][]float64, len(rows))
	for i := range grid {
		grid[i] = make([]float64, len(cols))
		for j := range grid[i] {
			grid[i][j] = math.NaN()
		}
	}
	for _, c := range cells {
		grid[c.r][c.c] = c.v
	}
	return rows, cols, grid
}
