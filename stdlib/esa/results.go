package esa

import (
	"esa/stdlib/esa/rank"
	"esa/stdlib/esa/stats"
	"esa/stdlib/esa/superweight"
	"esa/stdlib/eval"
)

// Results is everything one run measured, as plain values a notebook can
// print, tabulate or plot, and what the output files are written from.
type Results struct {
	Config Config `json:"config"`
	Device Device `json:"device"` // the device used (auto resolved)
	// Backend is the GPU backend that ran the passes (nil on the CPU).
	Backend  *BackendInfo `json:"backend,omitempty"`
	Model    ModelInfo    `json:"model"`
	Data     DataInfo     `json:"data"`
	Baseline eval.Result  `json:"baseline"`

	Sensitivity SensitivityInfo `json:"sensitivity"`
	// Tensors are the scored tensors in model order (indices of the sets).
	Tensors []rank.TensorInfo `json:"-"`
	// Top is the top-k set on the full calibration set; Bottom the bottom-k
	// set (only when bottom_k is a control).
	Top    *rank.Set `json:"-"`
	Bottom *rank.Set `json:"-"`
	// TopValues are the weights' stored values of Top, in Top's order, read
	// before any perturbation.
	TopValues []float64 `json:"-"`

	Stability    *Stability           `json:"stability,omitempty"`
	Perturbation *PerturbationResults `json:"perturbation,omitempty"`
	SuperWeights *SuperWeights        `json:"super_weights,omitempty"`

	Timings []Timing `json:"timings"`
	Notes   []string `json:"notes"`
}

// ModelInfo describes the analysed model.
type ModelInfo struct {
	Path          string   `json:"path"`
	Name          string   `json:"name"`
	Architecture  string   `json:"architecture"`
	Format        string   `json:"format"`
	Parameters    int64    `json:"parameters"`
	VocabSize     int      `json:"vocab_size"` // rows of the token embedding
	ScoredTensors int      `json:"scored_tensors"`
	ScoredWeights int64    `json:"scored_weights"`
	DTypes        []string `json:"dtypes"` // stored dtypes analysed (after --dtype)
	Converted     bool     `json:"converted"`
	// Fingerprint is the SHA-256 of every parameter's name, dtype, shape and
	// stored bytes, in model order, as analysed.
	Fingerprint string `json:"fingerprint_sha256"`
	// FingerprintAfter is the same hash at the end of the run: equal to
	// Fingerprint, or the run fails (every perturbation is undone).
	FingerprintAfter string   `json:"fingerprint_sha256_after_run"`
	Notes            []string `json:"notes,omitempty"`
}

// DataInfo says which texts were used and how many tokens they gave.
type DataInfo struct {
	Source    string `json:"source"` // the data file, or the built-in set's label
	SmokeSet  bool   `json:"smoke_set"`
	TextsRead int    `json:"texts_read"`
	TextsUsed int    `json:"texts_used"` // after --max-samples, with ≥ 2 tokens
	Skipped   int    `json:"texts_skipped"`
	Truncated int    `json:"texts_truncated"`
	Tokens    int    `json:"tokens"`           // tokens fed (BOS included)
	Predicted int    `json:"predicted_tokens"` // tokens scored (calibration and evaluation)
	MaxLength int    `json:"max_length"`
	AddBOS    bool   `json:"add_bos"`
	// Fingerprint is the SHA-256 of the used texts, each followed by '\n'.
	Fingerprint string `json:"fingerprint_sha256"`
	Note        string `json:"note"`
}

// SensitivityInfo is the scoring phase.
type SensitivityInfo struct {
	Metric        Metric             `json:"metric"`
	Meaning       string             `json:"meaning"`
	Seed          uint64             `json:"seed"`
	Sequences     int                `json:"sequences"`
	Tokens        int                `json:"predicted_tokens"`
	MeanLoss      float64            `json:"calibration_mean_loss"`
	Seconds       float64            `json:"seconds"`
	PeakHeapBytes uint64             `json:"peak_heap_bytes"`
	Notes         []string           `json:"notes"`
	Tensors       []TensorScoreStats `json:"tensors"`
	// Sample is a uniform sample of all scores (for distribution plots).
	Sample []float64 `json:"-"`
}

// TensorScoreStats is the score distribution of one tensor.
type TensorScoreStats struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	stats.TensorStats
}

// Stability compares the top-k sets of seeded calibration resamples.
type Stability struct {
	Seeds []uint64 `json:"seeds"`
	// Resample is how each seed's calibration set was drawn.
	Resample string         `json:"resample"`
	Overlaps stats.Overlaps `json:"overlaps"` // Jaccard over all seed pairs
	// WithFull is each seed's Jaccard overlap with the full-data top-k set.
	WithFull []float64   `json:"jaccard_with_full_calibration"`
	Sets     []*rank.Set `json:"-"`
	Bottoms  []*rank.Set `json:"-"`
	Note     string      `json:"note,omitempty"`
}

// PerturbationResults is the perturbation phase: per seed, the top-k set and
// each control perturbed and evaluated.
type PerturbationResults struct {
	Kind     Perturbation `json:"-"`
	Spec     string       `json:"spec"`
	TopKFrom string       `json:"top_k_from"` // full calibration set or per-seed resample
	Seeds    []SeedResult `json:"per_seed"`
	// Summary per set kind (top_k, random_k, bottom_k) across seeds.
	Summary []SetSummary `json:"summary"`
	// Tests compare top_k with each control across seeds.
	Tests []Comparison `json:"tests"`
	Notes []string     `json:"notes,omitempty"`
}

// SeedResult is one seed's measurements.
type SeedResult struct {
	Seed uint64      `json:"seed"`
	Sets []SetResult `json:"sets"`
}

// SetResult is one perturbed set evaluated.
type SetResult struct {
	Kind       string  `json:"kind"` // top_k, random_k, bottom_k
	Selected   int     `json:"selected"`
	Changed    int     `json:"changed"`      // weights whose stored bits changed
	Flipped    int     `json:"bits_flipped"` // bit_flip only
	OverlapTop int     `json:"overlap_with_top_k"`
	MeanScore  float64 `json:"mean_score"`
	PPL        float64 `json:"ppl"`
	Accuracy   float64 `json:"accuracy"`
	DeltaPPL   float64 `json:"delta_ppl"`
	DeltaAcc   float64 `json:"delta_accuracy"`
	Seconds    float64 `json:"seconds"`
}

// SetSummary summarises one set kind across seeds.
type SetSummary struct {
	Kind     string        `json:"kind"`
	DeltaPPL stats.Summary `json:"delta_ppl"`
	DeltaAcc stats.Summary `json:"delta_accuracy"`
}

// Comparison is Welch's t-test and Cohen's d of top_k against a control,
// on ΔPPL and on Δaccuracy across seeds.
type Comparison struct {
	Control   string      `json:"control"`
	DeltaPPL  stats.Welch `json:"delta_ppl_welch"`
	DeltaPPLD float64     `json:"delta_ppl_cohen_d"`
	DeltaAcc  stats.Welch `json:"delta_accuracy_welch"`
	DeltaAccD float64     `json:"delta_accuracy_cohen_d"`
}

// SuperWeights is the detector's report and the zeroing tests.
type SuperWeights struct {
	Prompt   string                 `json:"prompt"`
	Report   *superweight.Report    `json:"report"`
	Zeroing  []*superweight.Zeroing `json:"zeroing"`
	Controls int                    `json:"controls_per_candidate"`
}

// Timing is how long one phase took.
type Timing struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}
