package esa

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esa/internal/testmodels"
	"esa/stdlib/checkpoint"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/rank"
	"esa/stdlib/eval"
)

// TestEvaluateParallelMatchesSequential: splitting the texts over workers
// and merging gives eval.Evaluate's numbers.
func TestEvaluateParallelMatchesSequential(t *testing.T) {
	m, err := checkpoint.Load(testmodels.Path(t, "stories260K-hf"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	texts := smoke.Smoke()[:7]
	want, err := eval.Evaluate(context.Background(), m, texts, eval.Options{MaxLength: 48}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 2, 3, 7, 20} {
		got, err := evaluateParallel(context.Background(), m, texts, 48, w, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.NTokens != want.NTokens || got.NTexts != want.NTexts || got.NTruncated != want.NTruncated ||
			math.Abs(got.MeanNLL-want.MeanNLL) > 1e-12 || got.TokenAccuracy != want.TokenAccuracy {
			t.Errorf("workers %d: %+v, sequential %+v", w, got, want)
		}
	}
}

func smallConfig(t *testing.T) Config {
	c := DefaultConfig()
	c.Model = testmodels.Path(t, "stories260K-hf")
	c.MaxSamples, c.MaxLength, c.BatchSize = 3, 32, 2
	return c
}

// TestRunPerturbationRestoresAndSaves: a bit-flip run with both controls
// over two seeds leaves the model bit-identical (fingerprints), sizes the
// controls like the top set, and writes every file as valid JSON/CSV.
func TestRunPerturbationRestoresAndSaves(t *testing.T) {
	c := smallConfig(t)
	c.Metric, c.TopK = GradXWeight, 5
	c.Perturb, c.PerturbProb = BitFlip, 0.5
	c.Controls = []Control{RandomK, BottomK}
	c.Seeds = []uint64{3, 4}
	c.StabilityCheck = true
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model.Fingerprint == "" || r.Model.FingerprintAfter != r.Model.Fingerprint {
		t.Fatalf("fingerprints %q → %q", r.Model.Fingerprint, r.Model.FingerprintAfter)
	}
	if r.Top.Len() != 5*r.Model.ScoredTensors {
		t.Errorf("per_layer top set has %d weights for %d tensors", r.Top.Len(), r.Model.ScoredTensors)
	}
	for _, s := range r.Perturbation.Seeds {
		if len(s.Sets) != 3 {
			t.Fatalf("seed %d: %d sets", s.Seed, len(s.Sets))
		}
		for _, x := range s.Sets {
			if x.Selected != r.Top.Len() {
				t.Errorf("seed %d %s: %d weights, top set has %d", s.Seed, x.Kind, x.Selected, r.Top.Len())
			}
			if x.Flipped == 0 || x.Changed != x.Flipped {
				t.Errorf("seed %d %s: %d flips, %d changed", s.Seed, x.Kind, x.Flipped, x.Changed)
			}
		}
	}
	if len(r.Perturbation.Tests) != 2 || r.Stability == nil || len(r.Stability.Overlaps.Pairs) != 1 {
		t.Errorf("tests %d, stability %+v", len(r.Perturbation.Tests), r.Stability)
	}
	dir := t.TempDir()
	files, err := r.Save(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(OutputFiles()) {
		t.Errorf("wrote %v", files)
	}
	for _, f := range OutputFiles() {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	man, _ := os.ReadFile(filepath.Join(dir, "experiment_manifest.json"))
	for _, env := range []string{"HOME", "PATH"} {
		if v := os.Getenv(env); len(v) > 4 && strings.Contains(string(man), v) {
			t.Errorf("manifest contains the value of $%s", env)
		}
	}
	f, _ := os.Open(filepath.Join(dir, "top_weights.csv"))
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+r.Top.Len() || strings.Join(rows[0], ",") != "rank,parameter,indices,flat_index,score,value" {
		t.Fatalf("csv header %v, %d rows", rows[0], len(rows))
	}
	// per_layer: ranks 1..5 within each tensor; indices match flat_index.
	if rows[1][0] != "1" || rows[5][0] != "5" || rows[6][0] != "1" {
		t.Errorf("per-layer ranks: %v %v %v", rows[1][0], rows[5][0], rows[6][0])
	}
	if !strings.HasPrefix(rows[1][2], "(") || !strings.Contains(rows[1][2], ", ") {
		t.Errorf("indices %q", rows[1][2])
	}
	plots, err := r.SavePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plots {
		if _, err := os.Stat(p.File); p.Skipped == "" && err != nil {
			t.Errorf("plot %s: %v", p.File, err)
		}
	}
}

// TestRunDTypeIsApplied: --dtype bf16 converts the stored weights (the old
// tool only recorded it).
func TestRunDTypeIsApplied(t *testing.T) {
	c := smallConfig(t)
	c.Metric = Magnitude
	c.TopK = 3
	fp32, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.DType = BF16
	bf16, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bf16.Model.DTypes, ",") != "BF16" || !bf16.Model.Converted || bf16.Model.Fingerprint == fp32.Model.Fingerprint {
		t.Errorf("bf16 run: dtypes %v converted %v", bf16.Model.DTypes, bf16.Model.Converted)
	}
	if math.Abs(bf16.Baseline.Perplexity-fp32.Baseline.Perplexity) > 0.05*fp32.Baseline.Perplexity {
		t.Errorf("bf16 PPL %v far from fp32 %v", bf16.Baseline.Perplexity, fp32.Baseline.Perplexity)
	}
}

func TestRunErrors(t *testing.T) {
	c := smallConfig(t)
	c.DataFile = filepath.Join(t.TempDir(), "missing.txt")
	if _, err := Run(context.Background(), c, RunOptions{}); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing data file: %v", err)
	}
	c = smallConfig(t)
	c.Metric = "activation_magnitude"
	if _, err := Run(context.Background(), c, RunOptions{}); err == nil || !strings.Contains(err.Error(), "did you mean act_mag?") {
		t.Errorf("bad metric: %v", err)
	}
	c = smallConfig(t)
	c.MaxLength = 100000
	var ue *UsageError
	if _, err := Run(context.Background(), c, RunOptions{}); !errors.As(err, &ue) {
		t.Errorf("max length beyond the model: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, smallConfig(t), RunOptions{}); err == nil {
		t.Error("cancelled run succeeded")
	}
}

// TestDataFile: a JSONL data file is read, capped at --max-samples and
// fingerprinted; the smoke label is absent.
func TestDataFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "texts.jsonl")
	os.WriteFile(p, []byte(`{"text": "Once upon a time there was a cat."}`+"\n"+`{"text": "The dog ran to the park and played."}`+"\n"), 0o644)
	c := smallConfig(t)
	c.DataFile, c.Metric, c.TopK = p, ActMag, 2
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Data.SmokeSet || r.Data.TextsUsed != 2 || r.Data.Source != p || len(r.Data.Fingerprint) != 64 {
		t.Errorf("data %+v", r.Data)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Model = "m"
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Model = "" }, "--model is required"},
		{func(c *Config) { c.Controls = []Control{RandomK} }, "needs --perturb"},
		{func(c *Config) { c.Seeds = []uint64{1, 1} }, "repeats 1"},
		{func(c *Config) { c.StabilityCheck = true }, "needs at least two"},
		{func(c *Config) { c.Perturb = "gaussian" }, "did you mean gauss_noise?"},
		{func(c *Config) { c.PerturbBit = "top" }, "valid: top_exponent, random"},
		{func(c *Config) { c.DType = "float16" }, "did you mean fp16?"},
		{func(c *Config) { c.MaxLength = 1 }, "--max-length"},
		{func(c *Config) { c.PerturbProb = -0.1 }, "[0, 1]"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		c.Model = "m"
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	c.Perturb, c.PerturbBit = BitFlip, "7"
	if s, err := c.PerturbSpec(9); err != nil || s.BitIndex != 7 || s.Seed != 9 || s.Kind != BitFlip {
		t.Errorf("spec %+v, %v", s, err)
	}
	if s, err := ParseSeeds("1337, 123,999"); err != nil || len(s) != 3 || s[1] != 123 {
		t.Errorf("seeds %v %v", s, err)
	}
}

// TestStepByStepAPI: the notebook calls give what Run gives.
func TestStepByStepAPI(t *testing.T) {
	c := smallConfig(t)
	c.Metric, c.TopK, c.Perturb, c.Controls = GradXWeight, 4, SignFlip, []Control{RandomK}
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(c.Model, "")
	if err != nil {
		t.Fatal(err)
	}
	texts := smoke.Smoke()[:3]
	base, err := Evaluate(context.Background(), m, texts, c.MaxLength, 2)
	if err != nil || math.Abs(base.Perplexity-r.Baseline.Perplexity) > 1e-9 {
		t.Fatalf("Evaluate %v vs Run %v (%v)", base.Perplexity, r.Baseline.Perplexity, err)
	}
	s, err := Sensitivity(context.Background(), m, texts, GradXWeight, SensitivityOptions{MaxLength: c.MaxLength, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	top, err := SelectTop(context.Background(), s, 4, PerLayer)
	if err != nil || top.Len() != r.Top.Len() || rank.Jaccard(top, r.Top) != 1 {
		t.Fatalf("SelectTop differs from Run's top set (%v)", err)
	}
	rnd, err := SelectRandom(s, 4, PerLayer, 0)
	if err != nil || rnd.Len() != top.Len() {
		t.Fatalf("SelectRandom: %v", err)
	}
	spec, _ := c.PerturbSpec(0)
	pr, res, err := PerturbEvaluate(context.Background(), m, s, top, spec, texts, c.MaxLength, 2)
	if err != nil || res.Selected != top.Len() {
		t.Fatal(err)
	}
	want := r.Perturbation.Seeds[0].Sets[0]
	if math.Abs(pr.Perplexity-want.PPL) > 1e-9 {
		t.Errorf("PerturbEvaluate PPL %v, Run %v", pr.Perplexity, want.PPL)
	}
	after, _ := Evaluate(context.Background(), m, texts, c.MaxLength, 2)
	if after.Perplexity != base.Perplexity {
		t.Errorf("model not restored: PPL %v then %v", base.Perplexity, after.Perplexity)
	}
}
