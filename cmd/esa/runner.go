package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"esa/stdlib/esa"
)

func init() {
	register("runner", "run an ESA experiment with the runbook flags (esa runner -h)", func(args []string) int {
		return runRunner(args, os.Stdout, os.Stderr)
	})
}

// runRunner is `esa runner`: exit 0 on success, 2 for a usage error (before
// any work), 1 when the run fails or is interrupted (the model is restored
// either way; no output files are written for a failed run).
func runRunner(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseRunner(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "esa runner: %v\n(see esa runner -h, and esa choices for the valid values)\n", err)
		return 2
	}
	if _, err := esa.ResolveDevice(cfg.Device); err != nil {
		fmt.Fprintf(stderr, "esa runner: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	outDir := cfg.OutDir
	if outDir == "" {
		outDir = esa.DefaultOutDir(cfg, started)
	}
	bar := newBar(stderr)
	opt := esa.RunOptions{Progress: bar}
	if cfg.Verbose {
		opt.Log = lockedWriter{w: stderr, bar: bar}
	}
	res, err := esa.Run(ctx, cfg, opt)
	bar.finish()
	if err != nil {
		var ue *esa.UsageError
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "esa runner: %v\n", err)
			return 2
		case ctx.Err() != nil:
			fmt.Fprintf(stderr, "esa runner: interrupted (%v); the model was restored and no output was written\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "esa runner: %v\n", err)
		return 1
	}
	files, err := res.Save(outDir, started)
	if err != nil {
		fmt.Fprintf(stderr, "esa runner: writing outputs: %v\n", err)
		return 1
	}
	if cfg.SavePlots {
		plots, err := res.SavePlots(outDir)
		if err != nil {
			fmt.Fprintf(stderr, "esa runner: writing plots: %v\n", err)
			return 1
		}
		for _, p := range plots {
			if p.Skipped != "" {
				fmt.Fprintf(stderr, "esa runner: plot %s skipped: %s\n", p.File, p.Skipped)
				continue
			}
			files = append(files, p.File)
		}
	}
	printSummary(stdout, res, outDir, len(files))
	return 0
}

// printSummary is the human-readable end of a run on stdout.
func printSummary(w io.Writer, r *esa.Results, dir string, nfiles int) {
	fmt.Fprintf(w, "model      %s (%s, %d scored weights in %d tensors, %s)\n", r.Model.Name, r.Model.Architecture, r.Model.ScoredWeights, r.Model.ScoredTensors, strings.Join(r.Model.DTypes, ","))
	fmt.Fprintf(w, "data       %s\n", r.Data.Note)
	if b := r.Backend; b != nil {
		fmt.Fprintf(w, "device     %s (GEMM: %s; %.1f GB free of %.1f GB at the start)\n", b.Name, b.GEMM, float64(b.MemoryFree)/1e9, float64(b.MemoryTotal)/1e9)
	} else {
		fmt.Fprintf(w, "device     %s\n", r.Device)
	}
	fmt.Fprintf(w, "baseline   PPL %.4f, token accuracy %.4f\n", r.Baseline.Perplexity, r.Baseline.TokenAccuracy)
	fmt.Fprintf(w, "sensitivity %s: %d weights selected (%s, k=%d) in %.2f s\n", r.Sensitivity.Metric, r.Top.Len(), r.Config.Mode, r.Config.TopK, r.Sensitivity.Seconds)
	if st := r.Stability; st != nil {
		fmt.Fprintf(w, "stability  Jaccard over %d seed pairs: mean %.4f, std %.4f, min %.4f\n", len(st.Overlaps.Pairs), st.Overlaps.Mean, st.Overlaps.Std, st.Overlaps.Min)
	}
	if p := r.Perturbation; p != nil {
		fmt.Fprintf(w, "perturbation %s over %d seeds:\n", p.Spec, len(p.Seeds))
		for _, s := range p.Summary {
			fmt.Fprintf(w, "  %-9s ΔPPL %s ± %s   Δacc %s ± %s\n", s.Kind, num(s.DeltaPPL.Mean), num(s.DeltaPPL.Std), num(s.DeltaAcc.Mean), num(s.DeltaAcc.Std))
		}
		for _, t := range p.Tests {
			fmt.Fprintf(w, "  top_k vs %-9s Welch t %s (df %s, p %s), Cohen's d %s\n", t.Control, num(t.DeltaPPL.T), num(t.DeltaPPL.DF), num(t.DeltaPPL.P), num(t.DeltaPPLD))
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	if sw := r.SuperWeights; sw != nil {
		for _, z := range sw.Zeroing {
			fmt.Fprintf(w, "super weight %s [%d, %d] (flagged %v): zeroing PPL ×%s; %d random single weights ×%s mean\n",
				z.Candidate.Param, z.Candidate.Row, z.Candidate.Col, z.Candidate.Flagged, num(z.PPLRatio), len(z.Controls), num(z.ControlRatioMean))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note       %s\n", n)
	}
	fmt.Fprintf(w, "outputs    %s (%d files)\n", dir, nfiles)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 0):
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// bar is the progress display on stderr: on a terminal one line redrawn at
// most ten times a second; elsewhere (logs, CI) one line per phase when it
// starts, so logs stay short.
type bar struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	phase string
	start time.Time
	last  time.Time
	drawn bool
}

func newBar(w io.Writer) *bar {
	b := &bar{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

func (b *bar) Progress(phase string, done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if phase != b.phase {
		if b.drawn {
			fmt.Fprintln(b.w)
			b.drawn = false
		}
		b.phase, b.start = phase, now
		if !b.tty {
			fmt.Fprintf(b.w, "esa: %s (%d items)\n", phase, total)
		}
	}
	if !b.tty || (now.Sub(b.last) < 100*time.Millisecond && done != total) {
		return
	}
	b.last = now
	const width = 30
	fill := width
	if total > 0 {
		fill = width * min(done, total) / total
	}
	fmt.Fprintf(b.w, "\r\033[K%-40.40s [%s%s] %d/%d %.1fs", phase, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done, total, now.Sub(b.start).Seconds())
	b.drawn = true
}

// clear ends the current bar line so other output starts on a fresh line.
func (b *bar) clear() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func (b *bar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
}

// lockedWriter writes verbose log lines without tearing the progress bar.
type lockedWriter struct {
	w   io.Writer
	bar *bar
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.bar.mu.Lock()
	defer l.bar.mu.Unlock()
	l.bar.clear()
	return l.w.Write(p)
}

// usageError is a bad command line: exit code 2, before any work.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// runnerFlags is the flag set of `esa runner`: the runbook flags of
// esa-spec.md plus the options they leave at defaults. Every flag lands in
// the returned Config; set records which flags were given, so that a flag
// that would do nothing in this run is refused rather than ignored.
func runnerFlags(out io.Writer) (*flag.FlagSet, *esa.Config, map[string]*string) {
	cfg := esa.DefaultConfig()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(out)
	raw := map[string]*string{}
	str := func(name, def, usage string) { raw[name] = fs.String(name, def, usage) }

	fs.StringVar(&cfg.Model, "model", "", "model: Hugging Face folder, llama2.c .bin, or Hub id in the local cache (required)")
	fs.StringVar(&cfg.Model, "m", "", "shorthand for --model")
	str("metric", string(cfg.Metric), "sensitivity metric: grad_x_weight, grad_squared, hessian_diag, hutchinson_diag, magnitude, act_mag")
	str("mode", string(cfg.Mode), "ranking: per_layer (k per tensor) or global (k in total)")
	fs.IntVar(&cfg.TopK, "topk", cfg.TopK, "k: weights selected per tensor (per_layer) or in total (global)")
	fs.IntVar(&cfg.MaxSamples, "max-samples", cfg.MaxSamples, "texts used for calibration and evaluation, from the start of the data (0 = all)")
	fs.IntVar(&cfg.MaxLength, "max-length", cfg.MaxLength, "tokens per text (BOS included); longer texts are truncated")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "sequences processed concurrently; gradient metrics hold a float32 gradient (4 bytes per parameter) for each")
	str("perturb", "", "perturbation of the top-k set (and controls): zero, sign_flip, gauss_noise, bit_flip (default none)")
	fs.Float64Var(&cfg.PerturbScale, "perturb-scale", cfg.PerturbScale, "s of sign_flip (w ← −s·w) and gauss_noise (w ← w + s·|w|·N(0,1))")
	fs.Float64Var(&cfg.PerturbProb, "perturb-prob", cfg.PerturbProb, "p of bit_flip: probability that each selected weight gets a bit flipped")
	fs.StringVar(&cfg.PerturbBit, "perturb-bit", cfg.PerturbBit, "bit_flip's bit: top_exponent, random, or a bit index of the stored dtype")
	str("controls", "", "comma list of controls perturbed like the top-k set: random_k, bottom_k (aliases random, bottom)")
	str("seeds", "0", "comma list of seeds: control sets, noise, bit choices, probes, sampled labels, stability resamples")
	fs.BoolVar(&cfg.StabilityCheck, "stability-check", false, "recompute the top-k set on a seeded calibration resample per seed; report Jaccard overlaps")
	fs.StringVar(&cfg.DataFile, "data-file", "", "texts: one per non-empty line, or JSONL with a \"text\" field (default: the built-in smoke set)")
	fs.StringVar(&cfg.OutDir, "out-dir", "", "output folder (default outputs/{model}_{metric}_{mode}_k{k}[_{perturb}]_{timestamp})")
	fs.BoolVar(&cfg.SavePlots, "save-plots", false, "also write PNG plots to {out-dir}/plots")
	str("dtype", "", "convert the stored weights to bf16, fp16 or fp32 before analysis (default: the checkpoint's dtype)")
	str("device", string(cfg.Device), "auto, cpu, cuda or cuda:N")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "log each step to stderr")
	fs.BoolVar(&cfg.Verbose, "v", false, "shorthand for --verbose")
	fs.IntVar(&cfg.Probes, "probes", cfg.Probes, "hutchinson_diag: Rademacher probes")
	fs.IntVar(&cfg.FisherSamples, "fisher-samples", cfg.FisherSamples, "hessian_diag: sampled labels per predicted token")
	fs.BoolVar(&cfg.IncludeVectors, "include-vectors", false, "also score rank-1 tensors (norm gains, biases)")
	fs.BoolVar(&cfg.SuperWeights, "super-weights", false, "run the super-weight detector on mlp.down_proj and its zeroing test")
	fs.Float64Var(&cfg.SpikeThreshold, "spike-threshold", cfg.SpikeThreshold, "super-weight detector: a spike is at least this many times the median per-layer maximum")
	return fs, &cfg, raw
}

// parseRunner turns the command line into a validated Config. Any error is a
// usageError listing what is wrong (and for a choice, the valid values and
// the nearest match).
func parseRunner(args []string, out io.Writer) (esa.Config, error) {
	fs, cfg, raw := runnerFlags(out)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: esa runner --model PATH [flags]\n\nBaseline evaluation, sensitivity scoring, top-k ranking, perturbation with controls\nacross seeds, statistics and output files (see `esa choices` for the valid values).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return *cfg, err
		}
		return *cfg, usageError{err}
	}
	if fs.NArg() > 0 {
		return *cfg, usageError{fmt.Errorf("unexpected argument %q (flags take the form --name value)", fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var errs []error
	if m, err := esa.ParseMetric(*raw["metric"]); err != nil {
		errs = append(errs, fmt.Errorf("--metric: %w", err))
	} else {
		cfg.Metric = m
	}
	if m, err := esa.ParseMode(*raw["mode"]); err != nil {
		errs = append(errs, fmt.Errorf("--mode: %w", err))
	} else {
		cfg.Mode = m
	}
	if s := *raw["perturb"]; s != "" || given["perturb"] {
		if p, err := esa.ParsePerturbation(s); err != nil {
			errs = append(errs, fmt.Errorf("--perturb: %w", err))
		} else {
			cfg.Perturb = p
		}
	}
	if s := *raw["controls"]; s != "" || given["controls"] {
		if c, err := esa.ParseControls(s); err != nil {
			errs = append(errs, fmt.Errorf("--controls: %w", err))
		} else {
			cfg.Controls = c
		}
	}
	if s, err := esa.ParseSeeds(*raw["seeds"]); err != nil {
		errs = append(errs, fmt.Errorf("--seeds: %w", err))
	} else {
		cfg.Seeds = s
	}
	if s := *raw["dtype"]; s != "" || given["dtype"] {
		if d, err := esa.ParseDType(s); err != nil {
			errs = append(errs, fmt.Errorf("--dtype: %w", err))
		} else {
			cfg.DType = d
		}
	}
	if d, err := esa.ParseDevice(*raw["device"]); err != nil {
		errs = append(errs, fmt.Errorf("--device: %w", err))
	} else {
		cfg.Device = d
	}
	if len(errs) > 0 {
		return *cfg, usageError{errors.Join(errs...)}
	}

	// A flag that would do nothing in this run is refused: the old tool
	// accepted and ignored flags, and the runs looked fine but were not.
	needs := func(flagName string, ok bool, why string) {
		if given[flagName] && !ok {
			errs = append(errs, fmt.Errorf("--%s %s", flagName, why))
		}
	}
	p := cfg.Perturb
	needs("perturb-scale", p == esa.SignFlip || p == esa.GaussNoise, "applies only to --perturb sign_flip or gauss_noise")
	needs("perturb-prob", p == esa.BitFlip, "applies only to --perturb bit_flip")
	needs("perturb-bit", p == esa.BitFlip, "applies only to --perturb bit_flip")
	needs("probes", cfg.Metric == esa.HutchinsonDiag, "applies only to --metric hutchinson_diag")
	needs("fisher-samples", cfg.Metric == esa.HessianDiag, "applies only to --metric hessian_diag")
	needs("spike-threshold", cfg.SuperWeights, "applies only with --super-weights")
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.DataFile != "" {
		if st, err := os.Stat(cfg.DataFile); err != nil {
			errs = append(errs, fmt.Errorf("--data-file: %v (a missing file is an error; omit the flag for the built-in smoke set)", err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("--data-file %s is a folder, not a file", cfg.DataFile))
		}
	}
	if len(errs) > 0 {
		return *cfg, usageError{errors.Join(errs...)}
	}
	return *cfg, nil
}

// formatSeeds is the inverse of esa.ParseSeeds (for logs).
func formatSeeds(s []uint64) string {
	p := make([]string, len(s))
	for i, v := range s {
		p[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(p, ",")
}
