package plot

import (
	"fmt"
	"math"
	"testing"
)

// benchFigures builds one figure of each kind at a realistic size (a 32-layer
// Llama: 226 tensors, 32×7 heatmap, 5 seeds).
func benchFigures(b *testing.B) map[string]*Figure {
	b.Helper()
	must := func(f *Figure, err error) *Figure {
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	names := llamaNames(32)
	values := make([]float64, len(names))
	for i := range values {
		values[i] = 1e-4 * (1.5 + math.Sin(float64(i)))
	}
	kinds := []string{"q", "k", "v", "o", "gate", "up", "down"}
	var layers []string
	var grid [][]float64
	ints := make([]int, 32)
	in := make([]float64, 32)
	out := make([]float64, 32)
	for l := range 32 {
		layers = append(layers, fmt.Sprint(l))
		row := make([]float64, len(kinds))
		for k := range row {
			row[k] = 1e-5 * math.Pow(2, float64(k))
		}
		grid = append(grid, row)
		ints[l], in[l], out[l] = l, 2+math.Sin(float64(l)), 4+math.Cos(float64(l))
	}
	seeds := []string{"0", "1", "2", "3", "4"}
	jac := make([][]float64, 5)
	for i := range jac {
		jac[i] = make([]float64, 5)
		for j := range jac[i] {
			jac[i][j] = 1 - 0.05*math.Abs(float64(i-j))
		}
	}
	return map[string]*Figure{
		"Histogram":   must(Histogram("h", heavyTail(100_000), 0)),
		"TensorBars":  must(TensorBars("b", names, values, "p99")),
		"Heatmap":     must(PercentileHeatmap("m", layers, kinds, grid)),
		"Effects":     must(PerturbationEffects("e", []EffectGroup{NewEffectGroup("top_k", []float64{900, 1000, 950, 990, 870}), NewEffectGroup("random_k", []float64{0.4, 0.5, 0.3, 0.45, 0.41}), NewEffectGroup("bottom_k", []float64{0.001, 0.002, 0.0015, 0.0012, 0.0018})})),
		"Stability":   must(Stability("s", seeds, jac)),
		"Spikes":      must(ActivationSpikes("a", ints, in, out)),
		"HistogramLX": must(HistogramLogX("h", heavyTail(100_000), 0)),
	}
}

// BenchmarkRender measures PNG (6×4 in, 96 DPI) and SVG rendering per figure kind:
// go test ./stdlib/plot/ -run '^$' -bench Render -benchtime 20x
func BenchmarkRender(b *testing.B) {
	figs := benchFigures(b)
	for _, name := range []string{"Histogram", "HistogramLX", "TensorBars", "Heatmap", "Effects", "Stability", "Spikes"} {
		f := figs[name]
		b.Run(name+"/PNG", func(b *testing.B) {
			for b.Loop() {
				if _, err := f.PNG(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/SVG", func(b *testing.B) {
			for b.Loop() {
				if _, err := f.SVG(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHistogramBuild measures binning one million scores (no rendering).
func BenchmarkHistogramBuild(b *testing.B) {
	scores := heavyTail(1_000_000)
	for b.Loop() {
		if _, err := Histogram("h", scores, 0); err != nil {
			b.Fatal(err)
		}
	}
}
