package esa

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"esa/stdlib/esa/output"
	"esa/stdlib/esa/rank"
	"esa/stdlib/esa/stats"
)

// Version is the version of the ESA pipeline and its output format.
const Version = "0.1.0"

// outputFiles are the files Save writes, in order (SavePlots adds plots/).
var outputFiles = []string{"config.json", "top_weights.csv", "sensitivity_stats.json", "perturbation_results.json",
	"control_baselines.json", "stability_summary.json", "experiment_manifest.json"}

// OutputFiles lists the files Save writes.
func OutputFiles() []string { return append([]string(nil), outputFiles...) }

// DefaultOutDir is outputs/{model}_{metric}_{mode}_k{k}[_{perturb}]_{timestamp}.
func DefaultOutDir(cfg Config, at time.Time) string {
	return output.DefaultDir(cfg.Model, string(cfg.Metric), string(cfg.Mode), cfg.TopK, string(cfg.Perturb), at)
}

// Save writes the output files of r into dir (created if needed), each
// atomically. started is when the run began (for the manifest). It returns
// the paths written.
func (r *Results) Save(dir string, started time.Time) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	var written []string
	write := func(name string, v any) error {
		p := filepath.Join(dir, name)
		if err := output.WriteJSON(p, v); err != nil {
			return err
		}
		written = append(written, p)
		return nil
	}
	cfg := r.Config
	cfg.OutDir = dir
	if err := write("config.json", cfg); err != nil {
		return written, err
	}
	p := filepath.Join(dir, "top_weights.csv")
	if err := output.WriteCSV(p, []string{"rank", "parameter", "indices", "flat_index", "score", "value"}, r.topRows()); err != nil {
		return written, err
	}
	written = append(written, p)
	if err := write("sensitivity_stats.json", r.sensitivityFile()); err != nil {
		return written, err
	}
	if err := write("perturbation_results.json", r.perturbationFile()); err != nil {
		return written, err
	}
	if err := write("control_baselines.json", r.controlsFile()); err != nil {
		return written, err
	}
	if err := write("stability_summary.json", r.stabilityFile()); err != nil {
		return written, err
	}
	if err := write("experiment_manifest.json", r.manifest(started, written)); err != nil {
		return written, err
	}
	return written, nil
}

// topRows are the rows of top_weights.csv. Rank is the position in the
// global order in global mode, and within the tensor in per_layer mode.
func (r *Results) topRows() [][]string {
	rows := make([][]string, 0, r.Top.Len())
	rnk, prev := 0, -1
	for i, e := range r.Top.Entries {
		if r.Top.Global || e.Tensor != prev {
			if !r.Top.Global {
				rnk = 0
			}
			prev = e.Tensor
		}
		rnk++
		t := r.Tensors[e.Tensor]
		idx := t.Index(e.Flat)
		parts := make([]string, len(idx))
		for j, v := range idx {
			parts[j] = strconv.Itoa(v)
		}
		rows = append(rows, []string{strconv.Itoa(rnk), t.Name, "(" + strings.Join(parts, ", ") + ")",
			strconv.FormatInt(e.Flat, 10), output.FloatString(float64(e.Score), 32), output.FloatString(r.TopValues[i], 64)})
	}
	return rows
}

func (r *Results) sensitivityFile() any {
	return struct {
		Metric         Metric             `json:"metric"`
		Meaning        string             `json:"meaning"`
		Mode           Mode               `json:"mode"`
		K              int                `json:"k"`
		Selected       int                `json:"selected"`
		Sequences      int                `json:"calibration_sequences"`
		Tokens         int                `json:"calibration_predicted_tokens"`
		MeanLoss       float64            `json:"calibration_mean_loss"`
		Seconds        float64            `json:"seconds"`
		PeakHeap       uint64             `json:"peak_heap_bytes"`
		Notes          []string           `json:"notes"`
		QuantileMethod string             `json:"quantile_method"`
		StdKind        string             `json:"std"`
		Tensors        []TensorScoreStats `json:"tensors"`
	}{r.Sensitivity.Metric, r.Sensitivity.Meaning, r.Config.Mode, r.Config.TopK, r.Top.Len(),
		r.Sensitivity.Sequences, r.Sensitivity.Tokens, r.Sensitivity.MeanLoss, r.Sensitivity.Seconds, r.Sensitivity.PeakHeapBytes,
		r.Sensitivity.Notes,
		fmt.Sprintf("p95/p99 exact (linear interpolation) for tensors of up to %d weights; above, from a uniform reservoir sample of %d scores (each tensor's quantile_method says which)", stats.DefaultReservoir, stats.DefaultReservoir),
		"population standard deviation over every score of the tensor", r.Sensitivity.Tensors}
}

type notRun struct {
	Status string `json:"status"`
}

func (r *Results) perturbationFile() any {
	if r.Perturbation == nil {
		return notRun{"not run: no --perturb given"}
	}
	return struct {
		Status   string `json:"status"`
		Baseline struct {
			PPL      float64 `json:"ppl"`
			Accuracy float64 `json:"accuracy"`
			Tokens   int     `json:"tokens"`
		} `json:"baseline"`
		*PerturbationResults
		StdNote string `json:"std_note"`
	}{Status: "done", Baseline: struct {
		PPL      float64 `json:"ppl"`
		Accuracy float64 `json:"accuracy"`
		Tokens   int     `json:"tokens"`
	}{r.Baseline.Perplexity, r.Baseline.TokenAccuracy, r.Baseline.NTokens},
		PerturbationResults: r.Perturbation,
		StdNote:             "std is the sample standard deviation over seeds (n−1); Welch's t-test is two-sided; Cohen's d uses the pooled standard deviation"}
}

func (r *Results) controlsFile() any {
	if len(r.Config.Controls) == 0 {
		return notRun{"not run: no --controls given"}
	}
	type control struct {
		Kind       string        `json:"kind"`
		Meaning    string        `json:"meaning"`
		SetSize    int           `json:"set_size"`
		MeanScore  float64       `json:"mean_score_seed_avg"`
		OverlapTop float64       `json:"overlap_with_top_k_seed_avg"`
		DeltaPPL   stats.Summary `json:"delta_ppl"`
		DeltaAcc   stats.Summary `json:"delta_accuracy"`
		VsTop      *Comparison   `json:"top_k_vs_control,omitempty"`
	}
	var out []control
	var topMean float64
	kinds := append([]string{"top_k"}, controlNames(r.Config.Controls)...)
	for _, kind := range kinds {
		c := control{Kind: kind, Meaning: "the top-k set itself"}
		if kind != "top_k" {
			c.Meaning = Control(kind).Meaning()
		}
		n := 0
		for _, s := range r.Perturbation.Seeds {
			for _, x := range s.Sets {
				if x.Kind == kind {
					c.SetSize = x.Selected
					c.MeanScore += x.MeanScore
					c.OverlapTop += float64(x.OverlapTop)
					n++
				}
			}
		}
		c.MeanScore /= float64(max(n, 1))
		c.OverlapTop /= float64(max(n, 1))
		for _, s := range r.Perturbation.Summary {
			if s.Kind == kind {
				c.DeltaPPL, c.DeltaAcc = s.DeltaPPL, s.DeltaAcc
			}
		}
		for i := range r.Perturbation.Tests {
			if r.Perturbation.Tests[i].Control == kind {
				c.VsTop = &r.Perturbation.Tests[i]
			}
		}
		if kind == "top_k" {
			topMean = c.MeanScore
		}
		out = append(out, c)
	}
	return struct {
		Status       string    `json:"status"`
		Mode         Mode      `json:"mode"`
		K            int       `json:"k"`
		TopMeanScore float64   `json:"top_k_mean_score"`
		Controls     []control `json:"sets"`
		Note         string    `json:"note"`
	}{"done", r.Config.Mode, r.Config.TopK, topMean, out,
		"controls have the same count and mode as the top-k set (per tensor in per_layer mode); random_k is drawn per seed"}
}

func controlNames(cs []Control) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func (r *Results) stabilityFile() any {
	if r.Stability == nil {
		return notRun{"not run: no --stability-check given"}
	}
	return struct {
		Status string `json:"status"`
		*Stability
		K    int  `json:"k"`
		Mode Mode `json:"mode"`
	}{"done", r.Stability, r.Config.TopK, r.Config.Mode}
}

// manifest is experiment_manifest.json: versions, git commit, hardware,
// timings, data and model fingerprints and a results summary. It holds no
// environment variables (they can carry access tokens).
func (r *Results) manifest(started time.Time, files []string) any {
	type summary struct {
		BaselinePPL      float64         `json:"baseline_ppl"`
		BaselineAccuracy float64         `json:"baseline_accuracy"`
		Selected         int             `json:"top_k_selected"`
		TopScore         float64         `json:"top_score"`
		Perturbation     []SetSummary    `json:"perturbation,omitempty"`
		Tests            []Comparison    `json:"tests,omitempty"`
		Stability        *stats.Overlaps `json:"stability,omitempty"`
		SuperWeights     any             `json:"super_weights,omitempty"`
	}
	s := summary{BaselinePPL: r.Baseline.Perplexity, BaselineAccuracy: r.Baseline.TokenAccuracy, Selected: r.Top.Len(), TopScore: math.NaN()}
	if r.Top.Len() > 0 {
		s.TopScore = float64(r.Top.Entries[0].Score)
		for _, e := range r.Top.Entries {
			s.TopScore = math.Max(s.TopScore, float64(e.Score))
		}
	}
	if r.Perturbation != nil {
		s.Perturbation, s.Tests = r.Perturbation.Summary, r.Perturbation.Tests
	}
	if r.Stability != nil {
		s.Stability = &r.Stability.Overlaps
	}
	if r.SuperWeights != nil {
		s.SuperWeights = r.SuperWeights
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	return struct {
		Tool      string          `json:"tool"`
		Version   string          `json:"version"`
		Build     output.Build    `json:"build"`
		Hardware  output.Hardware `json:"hardware"`
		Device    Device          `json:"device"`
		Backend   *BackendInfo    `json:"backend,omitempty"`
		Started   time.Time       `json:"started"`
		Finished  time.Time       `json:"finished"`
		Timings   []Timing        `json:"timings"`
		Model     ModelInfo       `json:"model"`
		Data      DataInfo        `json:"data"`
		Results   summary         `json:"results"`
		Notes     []string        `json:"notes"`
		Files     []string        `json:"files"`
		Numbers   string          `json:"number_format"`
		TopWeight string          `json:"top_weights_rank"`
	}{"esa runner", Version, output.BuildInfo(), output.HardwareInfo(), r.Device, r.Backend, started, time.Now(), r.Timings,
		r.Model, r.Data, s, r.Notes, append(names, "experiment_manifest.json"),
		`non-finite numbers are written as the strings "Infinity", "-Infinity" and "NaN"`,
		rankNote(r.Top)}
}

func rankNote(s *rank.Set) string {
	if s.Global {
		return "rank is the position among all scored weights (ties: earlier tensor, then lower flat index); indices are the row-major multi-index in the tensor's own shape"
	}
	return "per_layer: rank is the position within its tensor; indices are the row-major multi-index in the tensor's own shape"
}
