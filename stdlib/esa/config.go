package esa

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/perturb"
)

// Config is one ESA run: the resolved runbook flags (written as config.json)
// plus the options the runbooks leave at their defaults.
type Config struct {
	Model      string `json:"model"`
	Metric     Metric `json:"metric"`
	Mode       Mode   `json:"mode"`
	TopK       int    `json:"topk"`        // per tensor (per_layer) or in total (global)
	MaxSamples int    `json:"max_samples"` // texts used, from the start of the data (0 = all)
	MaxLength  int    `json:"max_length"`  // tokens per sequence, BOS included; longer texts are truncated
	BatchSize  int    `json:"batch_size"`  // sequences evaluated or differentiated concurrently; gradient metrics hold one float32 gradient (4 bytes/parameter) per sequence in flight

	Perturb      Perturbation `json:"perturb"`       // "" = no perturbation phase
	PerturbScale float64      `json:"perturb_scale"` // s of sign_flip and gauss_noise
	PerturbProb  float64      `json:"perturb_prob"`  // p of bit_flip
	// PerturbBit is bit_flip's bit: "top_exponent" (default), "random", or
	// a bit index 0…width−1 of the stored dtype.
	PerturbBit string    `json:"perturb_bit"`
	Controls   []Control `json:"controls"`

	Seeds          []uint64 `json:"seeds"`
	StabilityCheck bool     `json:"stability_check"`

	DataFile  string `json:"data_file"` // "" = the built-in smoke set
	OutDir    string `json:"out_dir"`
	SavePlots bool   `json:"save_plots"`
	DType     DType  `json:"dtype"` // "" = the checkpoint's own dtype
	Device    Device `json:"device"`
	Verbose   bool   `json:"verbose"`

	// Probes is the number of Rademacher probes of hutchinson_diag.
	Probes int `json:"hutchinson_probes"`
	// FisherSamples is the number of label draws per predicted token of
	// hessian_diag (Monte-Carlo samples of the true Fisher).
	FisherSamples int `json:"fisher_samples"`
	// IncludeVectors also scores rank-1 tensors (norm gains, biases).
	IncludeVectors bool `json:"include_vectors"`
	// SuperWeights runs the super-weight detector and its zeroing test.
	SuperWeights bool `json:"super_weights"`
	// SpikeThreshold flags a down_proj activation as a spike when its
	// |value| is at least this many times the median of the per-layer maxima.
	SpikeThreshold float64 `json:"spike_threshold"`
}

// DefaultConfig is what `esa runner` uses for flags not given.
func DefaultConfig() Config {
	return Config{
		Metric: GradXWeight, Mode: PerLayer, TopK: 100, MaxSamples: 200, MaxLength: 128, BatchSize: 4,
		PerturbScale: 1, PerturbProb: 1, PerturbBit: "top_exponent",
		Seeds: []uint64{0}, Device: Auto, Probes: 10, FisherSamples: 1, SpikeThreshold: 10,
	}
}

// Validate checks every field; the errors name the flag.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Model == "" {
		add("--model is required")
	}
	if _, err := choice.ParseMetric(string(c.Metric)); err != nil {
		add("--metric: %v", err)
	}
	if _, err := choice.ParseMode(string(c.Mode)); err != nil {
		add("--mode: %v", err)
	}
	if c.TopK <= 0 {
		add("--topk must be positive, got %d", c.TopK)
	}
	if c.MaxSamples < 0 {
		add("--max-samples must not be negative, got %d", c.MaxSamples)
	}
	if c.MaxLength < 2 {
		add("--max-length must be at least 2 (one token of context, one to predict), got %d", c.MaxLength)
	}
	if c.BatchSize <= 0 {
		add("--batch-size must be positive, got %d", c.BatchSize)
	}
	if c.Perturb != "" {
		if _, err := choice.ParsePerturbation(string(c.Perturb)); err != nil {
			add("--perturb: %v", err)
		}
	}
	if math.IsNaN(c.PerturbScale) || math.IsInf(c.PerturbScale, 0) {
		add("--perturb-scale must be finite, got %v", c.PerturbScale)
	}
	if !(c.PerturbProb >= 0 && c.PerturbProb <= 1) {
		add("--perturb-prob must be in [0, 1], got %v", c.PerturbProb)
	}
	if _, _, err := parseBit(c.PerturbBit); err != nil {
		add("--perturb-bit: %v", err)
	}
	for _, ctl := range c.Controls {
		if _, err := choice.ParseControl(string(ctl)); err != nil {
			add("--controls: %v", err)
		}
	}
	if len(c.Controls) > 0 && c.Perturb == "" {
		add("--controls %s needs --perturb: controls are perturbed like the top-k set", joinControls(c.Controls))
	}
	if len(c.Seeds) == 0 {
		add("--seeds needs at least one seed")
	}
	seen := map[uint64]bool{}
	for _, s := range c.Seeds {
		if seen[s] {
			add("--seeds repeats %d: every seed must differ", s)
		}
		seen[s] = true
	}
	if c.StabilityCheck && len(c.Seeds) < 2 {
		add("--stability-check compares seeds and needs at least two (e.g. --seeds 0,1,2)")
	}
	if c.DType != "" {
		if _, err := choice.ParseDType(string(c.DType)); err != nil {
			add("--dtype: %v", err)
		}
	}
	if _, err := choice.ParseDevice(string(c.Device)); err != nil {
		add("--device: %v", err)
	}
	if c.Probes <= 0 {
		add("--probes must be positive, got %d", c.Probes)
	}
	if c.FisherSamples <= 0 {
		add("--fisher-samples must be positive, got %d", c.FisherSamples)
	}
	if !(c.SpikeThreshold > 1) {
		add("--spike-threshold must be greater than 1, got %v", c.SpikeThreshold)
	}
	return errors.Join(errs...)
}

// PerturbSpec is the perturbation of this config for one seed.
func (c *Config) PerturbSpec(seed uint64) (perturb.Spec, error) {
	mode, idx, err := parseBit(c.PerturbBit)
	if err != nil {
		return perturb.Spec{}, err
	}
	return perturb.Spec{Kind: c.Perturb, Scale: c.PerturbScale, Prob: c.PerturbProb, Bit: mode, BitIndex: idx, Seed: seed}, nil
}

// parseBit reads --perturb-bit: top_exponent, random or an index.
func parseBit(s string) (perturb.BitMode, int, error) {
	switch s {
	case "", "top_exponent":
		return perturb.TopExponent, 0, nil
	case "random":
		return perturb.RandomBit, 0, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i > 63 {
		return 0, 0, fmt.Errorf("unknown bit %q (valid: top_exponent, random, or a bit index 0…31)", s)
	}
	return perturb.GivenBit, i, nil
}

// ParseSeeds reads a comma list of non-negative integers ("0,1,2").
func ParseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		v, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seed %q is not a non-negative integer (want a comma list like 0,1,2)", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func joinControls(cs []Control) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}
