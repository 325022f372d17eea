package plot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error = %v, want one containing %q", err, substr)
	}
}

func isLog(a gplot.Axis) bool {
	_, ok := a.Scale.(gplot.LogScale)
	return ok
}

func heavyTail(n int) []float64 {
	r := rand.New(rand.NewPCG(3, 4))
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Exp(r.NormFloat64()*2 - 8)
	}
	return s
}

func TestHistogram(t *testing.T) {
	scores := append(heavyTail(20000), math.NaN(), math.Inf(1), 0, 0)
	f, err := Histogram("score distribution", scores, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !isLog(f.plot.Y) || isLog(f.plot.X) {
		t.Fatal("Histogram: want log y and linear x")
	}
	if !strings.Contains(f.Note(), "n = 20,002 scores") || !strings.Contains(f.Note(), "2 NaN/Inf scores skipped") {
		t.Fatalf("note = %q", f.Note())
	}

	f, err = HistogramLogX("log x", scores, 50)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !isLog(f.plot.X) || !isLog(f.plot.Y) {
		t.Fatal("HistogramLogX: want log x and log y")
	}
	if !strings.Contains(f.Note(), "2 zero scores not shown") {
		t.Fatalf("note = %q", f.Note())
	}

	// Constant and single values still draw a bar.
	for _, s := range [][]float64{{5, 5, 5}, {0}, {-3}, {1e-30}} {
		f, err := Histogram("constant", s, 0)
		if err != nil {
			t.Fatalf("Histogram(%v): %v", s, err)
		}
		if _, err := f.PNG(); err != nil {
			t.Fatalf("Histogram(%v): %v", s, err)
		}
	}

	_, err = Histogram("x", nil, 0)
	wantErr(t, err, "no scores")
	_, err = Histogram("x", []float64{math.NaN(), math.Inf(-1)}, 0)
	wantErr(t, err, "all 2 scores are NaN or Inf")
	_, err = Histogram("x", []float64{1}, -1)
	wantErr(t, err, "want 0 for automatic, or 1..1000")
	_, err = Histogram("x", []float64{1}, 1001)
	wantErr(t, err, "1..1000")
	_, err = HistogramLogX("x", []float64{0, -1, math.NaN()}, 0)
	wantErr(t, err, "1 zero, 1 negative, 1 NaN/Inf")
}

func TestBinning(t *testing.T) {
	vals := heavyTail(5000)
	vals = append(vals, -1e-3)
	for _, bins := range []int{1, 7, 64} {
		edges, counts := binLinear(vals, bins)
		checkBins(t, vals, edges, counts, false)
		pos := vals[:len(vals)-1]
		edges, counts = binLog(pos, bins)
		checkBins(t, pos, edges, counts, true)
	}
	// Near the float64 limits the range must not overflow.
	edges, counts := binLinear([]float64{-math.MaxFloat64, 0, math.MaxFloat64}, 4)
	if counts[0] != 1 || counts[1]+counts[2] != 1 || counts[3] != 1 {
		t.Fatalf("extreme range counts = %v (edges %v)", counts, edges)
	}
	for _, e := range edges {
		if !isFinite(e) {
			t.Fatalf("extreme range edges = %v", edges)
		}
	}
	if got := autoBins(0, 1); got != minAutoBins {
		t.Errorf("autoBins(0, 1) = %d", got)
	}
	if got := autoBins(0, 1000); got != 20 {
		t.Errorf("autoBins(0, 1000) = %d, want 20 (Rice: 2·1000^(1/3))", got)
	}
	if got := autoBins(0, 1e9); got != maxAutoBins {
		t.Errorf("autoBins(0, 1e9) = %d", got)
	}
}

// checkBins recounts vals by searching the edges directly (an independent way of
// binning) and compares.
func checkBins(t *testing.T, vals, edges []float64, counts []int64, logX bool) {
	t.Helper()
	want := make([]int64, len(counts))
	for _, v := range vals {
		k := len(counts) - 1 // the maximum belongs to the last, closed bin
		for i := range counts {
			if v < edges[i+1] {
				k = i
				break
			}
		}
		want[k]++
	}
	var total int64
	for i := range counts {
		total += counts[i]
		// Values within rounding of an edge may fall either side of it.
		if d := counts[i] - want[i]; d > 1 || d < -1 {
			t.Fatalf("logX=%v bins=%d: bin %d holds %d, recount %d", logX, len(counts), i, counts[i], want[i])
		}
	}
	if total != int64(len(vals)) {
		t.Fatalf("logX=%v: bins hold %d of %d values", logX, total, len(vals))
	}
}

func TestHistogramCounts(t *testing.T) {
	f, err := HistogramCounts("streamed", []float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2}, []int64{10, 100000, 0, 3}, true)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if f.Note() != "n = 100,013 values" {
		t.Fatalf("note = %q", f.Note())
	}
	_, err = HistogramCounts("x", []float64{0, 1}, []int64{1, 2}, false)
	wantErr(t, err, "2 edges for 2 counts")
	_, err = HistogramCounts("x", []float64{0, 2, 1}, []int64{1, 2}, false)
	wantErr(t, err, "strictly increasing")
	_, err = HistogramCounts("x", []float64{0, 1, 2}, []int64{1, 2}, true)
	wantErr(t, err, "positive edges")
	_, err = HistogramCounts("x", []float64{0, 1, 2}, []int64{0, 0}, false)
	wantErr(t, err, "all 2 counts are zero")
	_, err = HistogramCounts("x", []float64{0, 1, 2}, []int64{3, -1}, false)
	wantErr(t, err, "negative")
}

func llamaNames(layers int) []string {
	names := []string{"model.embed_tokens.weight"}
	for l := range layers {
		for _, k := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
			"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"} {
			names = append(names, fmt.Sprintf("model.layers.%d.%s.weight", l, k))
		}
	}
	return append(names, "lm_head.weight")
}

func TestTensorBars(t *testing.T) {
	names := llamaNames(32) // 226 tensors: labels must thin out
	values := make([]float64, len(names))
	for i := range values {
		values[i] = 1e-4 * (1.5 + math.Sin(float64(i)))
	}
	values[2*7+7] = 0.3
	values[5] = math.NaN()
	f, err := TensorBars("per tensor", names, values, "p99")
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !isLog(f.plot.Y) {
		t.Fatal("values spanning 3 decades: want log y")
	}
	if f.Note() != "1 NaN/Inf value skipped" {
		t.Fatalf("note = %q", f.Note())
	}
	// After rendering, the ticks are the thinned ones; the spike's label is kept.
	ticks := f.plot.X.Tick.Marker.Ticks(f.plot.X.Min, f.plot.X.Max)
	labelled := 0
	spike := ""
	for _, tk := range ticks {
		if tk.Label != "" {
			labelled++
		}
		if tk.Value == 21 {
			spike = tk.Label
		}
	}
	if labelled == 0 || labelled >= len(names)/2 {
		t.Fatalf("%d of %d tensor labels shown, want thinned to fit", labelled, len(names))
	}
	if spike != "L2.mlp.down" {
		t.Fatalf("tallest bar's label = %q, want L2.mlp.down", spike)
	}

	// Mixed signs (ΔPPL can be negative): linear axis including zero.
	f, err = TensorBars("signed", []string{"a", "b", "c"}, []float64{-0.5, 2, 1e3}, "Δ")
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if isLog(f.plot.Y) || f.plot.Y.Min > -0.5 {
		t.Fatalf("signed values: want linear y from ≤ -0.5, got log=%v min=%g", isLog(f.plot.Y), f.plot.Y.Min)
	}

	_, err = TensorBars("x", nil, nil, "")
	wantErr(t, err, "no values")
	_, err = TensorBars("x", []string{"a"}, []float64{1, 2}, "")
	wantErr(t, err, "1 names for 2 values")
	_, err = TensorBars("x", []string{"a"}, []float64{math.Inf(1)}, "")
	wantErr(t, err, "all 1 values are NaN or Inf")
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"model.layers.3.mlp.down_proj.weight":                 "L3.mlp.down",
		"model.layers.0.self_attn.q_proj.weight":              "L0.attn.q",
		"model.layers.1.block_sparse_moe.experts.5.w1.weight": "L1.moe.e5.w1",
		"model.embed_tokens.weight":                           "embed",
		"lm_head.weight":                                      "lm_head",
		"transformer.h.11.attn.c_attn.weight":                 "L11.attn.c_attn",
		"model.norm.weight":                                   "norm",
		"tok_embeddings.weight":                               "tok_embeddings",
		"layers.2.feed_forward.w2.weight":                     "L2.feed_forward.w2",
		"weird._proj":                                         "weird._proj",
	} {
		if got := ShortName(in); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", in, got, want)
		}
	}
	// Two names that shorten alike keep their full names.
	got := shortNames([]string{"model.layers.0.mlp.down_proj.weight", "layers.0.mlp.down_proj.weight", "lm_head.weight"})
	if got[0] != "model.layers.0.mlp.down_proj.weight" || got[1] != "layers.0.mlp.down_proj.weight" || got[2] != "lm_head" {
		t.Fatalf("shortNames with a collision = %q", got)
	}
}

func TestPercentileHeatmap(t *testing.T) {
	kinds := []string{"q", "k", "v", "o", "gate", "up", "down"}
	var layers []string
	var values [][]float64
	for l := range 32 {
		layers = append(layers, fmt.Sprint(l))
		row := make([]float64, len(kinds))
		for k := range row {
			row[k] = 1e-5 * math.Pow(2, float64(k)) * (1 + 0.2*math.Sin(float64(l)))
		}
		values = append(values, row)
	}
	values[2][6] = 0.05
	values[9][3] = math.NaN()
	values[10][3] = math.Inf(1)
	f, err := PercentileHeatmap("p99", layers, kinds, values)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !f.colorBar.log {
		t.Fatal("values spanning decades: want a log colour scale")
	}
	if f.Note() != "1 missing cell (grey); 1 Inf cell skipped (grey)" {
		t.Fatalf("note = %q", f.Note())
	}
	// The input is not modified.
	if values[2][6] != 0.05 {
		t.Fatal("PercentileHeatmap modified its input")
	}

	f, err = PercentileHeatmap("narrow", []string{"0", "1"}, []string{"q", "k"}, [][]float64{{0.5, 0.6}, {0.7, -0.1}})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if f.colorBar.log {
		t.Fatal("values with a negative: want a linear colour scale")
	}
	// A single cell (one colour) still renders.
	f, err = PercentileHeatmap("one", []string{"0"}, []string{"q"}, [][]float64{{3}})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)

	_, err = PercentileHeatmap("x", nil, []string{"q"}, nil)
	wantErr(t, err, "empty matrix")
	_, err = PercentileHeatmap("x", []string{"0", "1"}, []string{"q"}, [][]float64{{1}})
	wantErr(t, err, "1 rows of values for 2 row labels")
	_, err = PercentileHeatmap("x", []string{"0"}, []string{"q", "k"}, [][]float64{{1}})
	wantErr(t, err, "row 0 has 1 values for 2 column labels")
	_, err = PercentileHeatmap("x", []string{"0"}, []string{"q"}, [][]float64{{math.NaN()}})
	wantErr(t, err, "no finite value")
}

func TestStability(t *testing.T) {
	labels := []string{"seed 0", "seed 1", "seed 2"}
	j := [][]float64{{1, 0.8, 0.6}, {0.8, 1, 0.7}, {0.6, 0.7, 1}}
	f, err := Stability("stability", labels, j)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if want := "Jaccard over 3 pairs: mean 0.700, min 0.600, max 0.800"; f.Note() != want {
		t.Fatalf("note = %q, want %q", f.Note(), want)
	}
	// Only the upper triangle given.
	nan := math.NaN()
	f, err = Stability("upper", labels, [][]float64{{nan, 0.8, 0.6}, {nan, nan, 0.7}, {nan, nan, nan}})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !strings.HasPrefix(f.Note(), "Jaccard over 3 pairs: mean 0.700") {
		t.Fatalf("note = %q", f.Note())
	}
	// Ten seeds: 100 cells, still annotated where they fit.
	var many []string
	var m [][]float64
	for i := range 10 {
		many = append(many, fmt.Sprintf("s%d", i))
		row := make([]float64, 10)
		for k := range row {
			row[k] = 1 - 0.03*math.Abs(float64(i-k))
		}
		m = append(m, row)
	}
	f, err = Stability("ten seeds", many, m)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)

	_, err = Stability("x", []string{"a"}, [][]float64{{1}})
	wantErr(t, err, "at least 2")
	_, err = Stability("x", labels[:2], [][]float64{{1, 0.5}, {0.4, 1}})
	wantErr(t, err, "not symmetric")
	_, err = Stability("x", labels[:2], [][]float64{{1, 1.5}, {1.5, 1}})
	wantErr(t, err, "outside [0, 1]")
	_, err = Stability("x", labels[:2], [][]float64{{1, nan}, {nan, 1}})
	wantErr(t, err, "no pair")
	_, err = Stability("x", labels[:2], [][]float64{{1, 0.5}})
	wantErr(t, err, "1 rows of values for 2 row labels")
}

func TestNewEffectGroup(t *testing.T) {
	g := NewEffectGroup("top_k", []float64{2, 4, 9, math.NaN()})
	if g.Mean != 5 || math.Abs(g.Std-math.Sqrt(13)) > 1e-12 || len(g.Values) != 4 {
		t.Fatalf("NewEffectGroup = %+v, want mean 5, std √13 (sample), 4 values", g)
	}
	if g := NewEffectGroup("one", []float64{3}); g.Mean != 3 || g.Std != 0 {
		t.Fatalf("single value: %+v", g)
	}
	if g := NewEffectGroup("none", nil); !math.IsNaN(g.Mean) {
		t.Fatalf("no values: %+v, want NaN mean", g)
	}
}

func TestPerturbationEffects(t *testing.T) {
	groups := []EffectGroup{
		NewEffectGroup("top_k", []float64{812, 1040, 955}),
		NewEffectGroup("random_k", []float64{0.41, 0.38, 0.52}),
		NewEffectGroup("bottom_k", []float64{0.002, 0.0017, math.Inf(1)}),
	}
	f, err := PerturbationEffects("effects", groups)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if !isLog(f.plot.Y) {
		t.Fatal("effects spanning 6 decades: want log y")
	}
	if !strings.Contains(f.Note(), "1 NaN/Inf seed value skipped") {
		t.Fatalf("note = %q", f.Note())
	}
	// An error bar reaching below zero on a log axis, and a group without seeds.
	f, err = PerturbationEffects("wide", []EffectGroup{
		{Label: "top_k", Mean: 500, Std: 40},
		{Label: "random_k", Mean: 0.3, Std: 0.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	// Negative ΔPPL: linear axis.
	f, err = PerturbationEffects("signed", []EffectGroup{
		NewEffectGroup("top_k", []float64{1.2, 1.5}),
		NewEffectGroup("bottom_k", []float64{-0.01, 0.02}),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	if isLog(f.plot.Y) {
		t.Fatal("signed effects: want linear y")
	}

	_, err = PerturbationEffects("x", nil)
	wantErr(t, err, "no groups")
	_, err = PerturbationEffects("x", []EffectGroup{{Label: "a", Mean: math.NaN()}})
	wantErr(t, err, `group 0 ("a") has mean NaN`)
	_, err = PerturbationEffects("x", []EffectGroup{{Label: "a", Mean: 1, Std: -1}})
	wantErr(t, err, "std -1")
}

func TestActivationSpikes(t *testing.T) {
	layers := make([]int, 32)
	in := make([]float64, 32)
	out := make([]float64, 32)
	for l := range layers {
		layers[l] = 31 - l // unsorted on purpose
		in[l] = 2 + math.Sin(float64(l))
		out[l] = 4 + math.Cos(float64(l))
	}
	in[29], out[29] = -560, 1313 // layer 2
	out[0] = 0
	f, err := ActivationSpikes("spikes", layers, in, out)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)
	note := f.Note()
	for _, want := range []string{"max |input| peaks at layer 2: 560", "max |output| peaks at layer 2: 1313", "1 zero or NaN/Inf value not shown"} {
		if !strings.Contains(note, want) {
			t.Fatalf("note = %q, want it to contain %q", note, want)
		}
	}
	if !isLog(f.plot.Y) {
		t.Fatal("want log y")
	}
	// One layer only.
	f, err = ActivationSpikes("one", []int{0}, []float64{3}, []float64{5})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, f)

	_, err = ActivationSpikes("x", nil, nil, nil)
	wantErr(t, err, "no layers")
	_, err = ActivationSpikes("x", []int{0, 1}, []float64{1}, []float64{1, 2})
	wantErr(t, err, "2 layers but 1 maxInput and 2 maxOutput")
	_, err = ActivationSpikes("x", []int{0, 0}, []float64{1, 2}, []float64{1, 2})
	wantErr(t, err, "layer 0 appears twice")
	_, err = ActivationSpikes("x", []int{0}, []float64{0}, []float64{math.NaN()})
	wantErr(t, err, "no positive finite value")
}

func TestLogTicks(t *testing.T) {
	labels := func(min, max float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(min, max) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	if got := strings.Join(labels(1e-5, 0.5), " "); got != "1e-5 1e-4 0.001 0.01 0.1" {
		t.Errorf("1e-5..0.5: %q", got)
	}
	if got := strings.Join(labels(3, 8), " "); got != "5" {
		// one decade-free range: only 5 is a 2/5 multiple inside [3, 8]; the
		// fallback must then give linear ticks instead.
		if len(labels(3, 8)) < 2 {
			t.Errorf("3..8: %q, want at least two labels", got)
		}
	}
	if got := labels(1e-30, 1e30); len(got) < 4 || len(got) > 9 {
		t.Errorf("1e-30..1e30: %d labels %q, want a readable handful", len(got), got)
	}
	// Degenerate ranges fall back rather than panic like gonum's LogTicks.
	for _, r := range [][2]float64{{0, 10}, {-1, 1}, {5, 5}, {1, math.Inf(1)}} {
		_ = (logTicks{}).Ticks(r[0], r[1])
	}
	var ints []string
	for _, tk := range (intTicks{}).Ticks(0, 79) {
		ints = append(ints, tk.Label)
	}
	if strings.Join(ints, " ") != "0 10 20 30 40 50 60 70" {
		t.Errorf("intTicks(0, 79) = %q", ints)
	}
}

func TestNominalLayout(t *testing.T) {
	p := gplot.New()
	few := nominalLayout{labels: []string{"top_k", "random_k", "bottom_k"}, keep: -1}
	few.apply(&p.X, 5*vg.Inch, true)
	if p.X.Tick.Label.Rotation != 0 {
		t.Error("three short labels over 5 in were rotated")
	}
	many := nominalLayout{labels: shortNames(llamaNames(32)), keep: 100}
	many.apply(&p.X, 5*vg.Inch, true)
	if p.X.Tick.Label.Rotation == 0 {
		t.Error("226 labels over 5 in were not rotated")
	}
	ticks := p.X.Tick.Marker.Ticks(0, 300)
	if ticks[100].Label == "" || ticks[99].Label != "" || ticks[101].Label != "" {
		t.Error("kept label not shown alone")
	}
	rows := nominalLayout{labels: []string{"a", "b", "c"}, reversed: true, keep: -1}
	rows.apply(&p.Y, 3*vg.Inch, false)
	ticks = p.Y.Tick.Marker.Ticks(0, 2)
	if ticks[0].Value != 2 || ticks[0].Label != "a" {
		t.Errorf("reversed: first label at %g, want the top (2)", ticks[0].Value)
	}
}

// TestNoPanicOnOddInputs feeds every constructor extreme and random values: each
// must return an error or a figure that renders, never panic.
func TestNoPanicOnOddInputs(t *testing.T) {
	odd := []float64{0, -0.0, 1, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
		1e-300, 1e300, math.NaN(), math.Inf(1), math.Inf(-1), 0.5}
	r := rand.New(rand.NewPCG(7, 8))
	pick := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = odd[r.IntN(len(odd))]
		}
		return out
	}
	render := func(name string, f *Figure, err error) {
		t.Helper()
		if err != nil {
			return
		}
		if _, err := f.PNG(); err != nil {
			t.Errorf("%s: built but failed to render: %v", name, err)
		}
	}
	for trial := range 40 {
		n := 1 + r.IntN(5)
		v := pick(n)
		f, err := Histogram("h", v, r.IntN(5))
		render(fmt.Sprintf("Histogram(%v)", v), f, err)
		f, err = HistogramLogX("h", v, 0)
		render(fmt.Sprintf("HistogramLogX(%v)", v), f, err)
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprint(i)
		}
		f, err = TensorBars("b", names, v, "y")
		render(fmt.Sprintf("TensorBars(%v)", v), f, err)
		f, err = PercentileHeatmap("m", []string{"0"}, names, [][]float64{v})
		render(fmt.Sprintf("PercentileHeatmap(%v)", v), f, err)
		groups := []EffectGroup{NewEffectGroup("a", v), {Label: "b", Mean: v[0], Std: math.Abs(v[n-1])}}
		f, err = PerturbationEffects("e", groups)
		render(fmt.Sprintf("PerturbationEffects(%v)", v), f, err)
		layers := make([]int, n)
		for i := range layers {
			layers[i] = i * (trial + 1)
		}
		f, err = ActivationSpikes("s", layers, v, pick(n))
		render(fmt.Sprintf("ActivationSpikes(%v)", v), f, err)
	}
}
