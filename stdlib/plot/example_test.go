package plot_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"esa/stdlib/plot"
)

// The examples draw realistic-looking ESA data (heavy-tailed scores, a layer-2
// super weight, top-k ≫ random-k ≫ bottom-k) and save each figure under
// $TMPDIR/plots (normally /tmp/plots), so `go test -run Example` leaves the
// images to look at.

// save writes fig as name in the examples' output folder and reports it.
func save(fig *plot.Figure, err error, name string) {
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	dir := filepath.Join(os.TempDir(), "plots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Println("error:", err)
		return
	}
	if err := fig.Save(filepath.Join(dir, name)); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("saved", name, fig)
}

// exampleScores imitates |g ⊙ w| over a small model: log-normal bulk, exact zeros
// (pruned weights), a handful of outliers decades above, and two NaNs.
func exampleScores() []float64 {
	r := rand.New(rand.NewPCG(1, 2))
	s := make([]float64, 0, 50_000)
	for range 50_000 - 300 {
		s = append(s, math.Exp(r.NormFloat64()*1.5-9))
	}
	for range 290 {
		s = append(s, 0)
	}
	for range 8 {
		s = append(s, math.Exp(r.NormFloat64()*0.5-1))
	}
	return append(s, math.NaN(), math.NaN())
}

func ExampleHistogram() {
	fig, err := plot.Histogram("Score distribution (grad_x_weight)", exampleScores(), 0)
	save(fig, err, "histogram.png")
	// Output: saved histogram.png <Figure: Score distribution (grad_x_weight), 6x4 in>
}

func ExampleHistogramLogX() {
	fig, err := plot.HistogramLogX("Score distribution (grad_x_weight), log x", exampleScores(), 60)
	save(fig, err, "histogram_logx.png")
	// Output: saved histogram_logx.png <Figure: Score distribution (grad_x_weight), log x, 6x4 in>
}

// exampleTensors lists the rank-≥2 tensors of a 4-layer Llama in model order.
func exampleTensors() []string {
	names := []string{"model.embed_tokens.weight"}
	for l := range 4 {
		for _, t := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
			"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"} {
			names = append(names, fmt.Sprintf("model.layers.%d.%s.weight", l, t))
		}
	}
	return append(names, "lm_head.weight")
}

func ExampleTensorBars() {
	names := exampleTensors()
	values := make([]float64, len(names))
	for i := range values {
		values[i] = 1e-4 * (1 + 0.5*math.Sin(float64(i)))
	}
	values[2*7+7] = 3e-1 // layer 2 down_proj holds the super weight
	fig, err := plot.TensorBars("p99 score per tensor", names, values, "p99 of grad_x_weight")
	save(fig, err, "tensor_bars.png")
	// Output: saved tensor_bars.png <Figure: p99 score per tensor, 6x4 in>
}

func ExamplePercentileHeatmap() {
	kinds := []string{"q", "k", "v", "o", "gate", "up", "down"}
	var layers []string
	var values [][]float64
	for l := range 8 {
		layers = append(layers, fmt.Sprintf("%d", l))
		row := make([]float64, len(kinds))
		for k := range kinds {
			row[k] = 1e-5 * math.Pow(1.6, float64(k)) * (1 + 0.3*math.Cos(float64(l)))
		}
		values = append(values, row)
	}
	values[2][6] = 4e-2       // the super weight's tensor
	values[5][1] = math.NaN() // a tensor this layer lacks
	fig, err := plot.PercentileHeatmap("p99 of grad_x_weight per layer", layers, kinds, values)
	if err == nil {
		fig.SetColorLabel("p99 score")
	}
	save(fig, err, "percentile_heatmap.png")
	// Output: saved percentile_heatmap.png <Figure: p99 of grad_x_weight per layer, 6x4 in>
}

func ExamplePerturbationEffects() {
	groups := []plot.EffectGroup{
		plot.NewEffectGroup("top_k", []float64{812, 1040, 955}),
		plot.NewEffectGroup("random_k", []float64{0.41, 0.38, 0.52}),
		plot.NewEffectGroup("bottom_k", []float64{0.0021, 0.0017, 0.0026}),
	}
	fig, err := plot.PerturbationEffects("ΔPPL after zeroing k = 100 weights (3 seeds)", groups)
	save(fig, err, "perturbation_effects.png")
	// Output: saved perturbation_effects.png <Figure: ΔPPL after zeroing k = 100 weights (3 seeds), 6x4 in>
}

func ExampleStability() {
	labels := []string{"seed 0", "seed 1", "seed 2", "seed 3"}
	j := [][]float64{
		{1, 0.82, 0.79, 0.85},
		{0.82, 1, 0.88, 0.80},
		{0.79, 0.88, 1, 0.77},
		{0.85, 0.80, 0.77, 1},
	}
	fig, err := plot.Stability("Top-k stability across seeds", labels, j)
	save(fig, err, "stability.png")
	// Output: saved stability.png <Figure: Top-k stability across seeds, 6x4 in>
}

func ExampleActivationSpikes() {
	layers := make([]int, 32)
	in := make([]float64, 32)
	out := make([]float64, 32)
	for l := range layers {
		layers[l] = l
		in[l] = 3 + 2*math.Sin(float64(l))
		out[l] = 5 + 3*math.Cos(float64(l))
	}
	in[2], out[2] = -560, 1313 // the Llama-7B super weight
	fig, err := plot.ActivationSpikes("down_proj activation spikes", layers, in, out)
	save(fig, err, "activation_spikes.png")
	// Output: saved activation_spikes.png <Figure: down_proj activation spikes, 6x4 in>
}
