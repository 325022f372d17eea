package esa

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"esa/gpu"
	"esa/stdlib/checkpoint"
	"esa/stdlib/data"
	"esa/stdlib/esa/choice"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/output"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rank"
	"esa/stdlib/esa/rng"
	"esa/stdlib/esa/sensitivity"
	"esa/stdlib/esa/stats"
	"esa/stdlib/esa/superweight"
	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// RunOptions are the inputs of Run that are not part of the configuration.
type RunOptions struct {
	// Progress receives progress of every long phase (a terminal bar in the
	// CLI, an updating display in notebooks); nil for none.
	Progress progress.Reporter
	// Log receives one line per step when non-nil (the runner's --verbose).
	Log io.Writer
}

// SuperWeightControls is the number of random single weights zeroed as
// controls for each super-weight candidate.
const SuperWeightControls = 10

// UsageError is a configuration that cannot run (an invalid value, a device
// this binary or machine lacks): nothing was done.
type UsageError struct{ Err error }

func (u *UsageError) Error() string { return u.Err.Error() }
func (u *UsageError) Unwrap() error { return u.Err }

// experiment is the state of one Run.
type experiment struct {
	cfg   Config
	opt   RunOptions
	rep   progress.Reporter
	res   *Results
	ck    *checkpoint.Checkpoint
	m     *model.Model
	dev   gpu.Device // the GPU the passes run on; nil on the CPU
	texts []string
	seqs  [][]int
	src   *sensitivity.Scores
}

// Run is one ESA experiment: baseline evaluation, sensitivity scoring,
// ranking, stability across seeded calibration resamples, perturbation of
// the top-k set and each control per seed with statistics across seeds, and
// the super-weight detector — as cfg asks. The model is restored bit for bit
// after every perturbation, also when the run fails or ctx is cancelled.
// Write the output files with (*Results).Save.
func Run(ctx context.Context, cfg Config, opt RunOptions) (*Results, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &UsageError{err}
	}
	dev, err := ResolveDevice(cfg.Device)
	if err != nil {
		return nil, &UsageError{err}
	}
	x := &experiment{cfg: cfg, opt: opt, rep: progress.Or(opt.Progress),
		res: &Results{Config: cfg, Device: dev}}
	defer func() {
		if x.dev != nil {
			// The device's memory goes with the run, also when it failed.
			if err := x.dev.Close(); err != nil {
				x.logf("closing %s: %v", x.res.Backend.Name, err)
			}
		}
		if x.ck != nil {
			x.ck.Close()
		}
	}()
	x.logf("esa run: model %s, metric %s, mode %s, k %d, device %s", cfg.Model, cfg.Metric, cfg.Mode, cfg.TopK, dev)
	steps := []struct {
		name string
		run  func(context.Context) error
		skip bool
	}{
		{"load model", x.load, false},
		{"prepare data", x.data, false},
		{"baseline evaluation", x.baseline, false},
		{"sensitivity " + string(cfg.Metric), x.sensitivity, false},
		{"ranking", x.rank, false},
		{"score statistics", x.scoreStats, false},
		{"stability", x.stability, !cfg.StabilityCheck},
		{"perturbation", x.perturbation, cfg.Perturb == ""},
		{"super weights", x.superWeights, !cfg.SuperWeights},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		x.logf("%s …", s.name)
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		d := time.Since(t0).Seconds()
		x.res.Timings = append(x.res.Timings, Timing{s.name, d})
		x.logf("%s done in %.2f s", s.name, d)
	}
	x.res.Model.FingerprintAfter = fingerprint(x.m)
	if x.res.Model.FingerprintAfter != x.res.Model.Fingerprint {
		return nil, errors.New("the model's weights differ from the loaded ones at the end of the run (a perturbation was not undone)")
	}
	if len(cfg.Seeds) > 0 && !cfg.Metric.Random() && !cfg.StabilityCheck && cfg.Perturb == "" && !cfg.SuperWeights {
		x.note(fmt.Sprintf("seeds %v: nothing in this run is random (metric %s, no perturbation, no stability check, no super-weight controls)", cfg.Seeds, cfg.Metric))
	}
	return x.res, nil
}

func (x *experiment) logf(format string, a ...any) {
	if x.opt.Log != nil {
		fmt.Fprintf(x.opt.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}
}

func (x *experiment) note(s string) {
	x.res.Notes = append(x.res.Notes, s)
	x.logf("note: %s", s)
}

func (x *experiment) load(ctx context.Context) error {
	ck, err := checkpoint.Open(x.cfg.Model, checkpoint.Options{DType: string(x.cfg.DType)})
	if err != nil {
		return err
	}
	x.ck = ck
	m, err := ck.Model()
	if err != nil {
		return err
	}
	if _, err := ck.NeedTokenizer(); err != nil {
		return err
	}
	x.m = m
	info := ModelInfo{Path: ck.Path, Name: output.ModelName(x.cfg.Model), Architecture: m.Config.Architecture,
		Format: ck.Format, Parameters: ck.Parameters(), VocabSize: m.Config.Vocab, DTypes: ck.DTypes(), Converted: x.cfg.DType != "", Notes: ck.Notes}
	if x.cfg.MaxLength > m.Config.MaxSeqLen && m.Config.MaxSeqLen > 0 {
		return &UsageError{fmt.Errorf("--max-length %d exceeds the model's max_position_embeddings %d", x.cfg.MaxLength, m.Config.MaxSeqLen)}
	}
	// Before anything reads every weight (the fingerprint, the passes): a
	// model that does not fit the GPU is refused while that is still cheap.
	if x.res.Device.GPU() >= 0 {
		if err := x.useDevice(info.Name); err != nil {
			return err
		}
	}
	for _, p := range sensitivity.ScoredParams(m, x.cfg.IncludeVectors) {
		info.ScoredTensors++
		info.ScoredWeights += int64(m.Params[p].Len())
	}
	info.Fingerprint = fingerprint(m)
	x.res.Model = info
	x.logf("model: %s %s, %d parameters (%d scored in %d tensors), dtypes %v", info.Architecture, info.Format, info.Parameters, info.ScoredWeights, info.ScoredTensors, info.DTypes)
	return nil
}

// useDevice moves the model's passes to the resolved GPU, checking first
// that it fits the run's longest sequence, batch and metric. With --device
// auto a GPU that cannot take the model leaves the run on the CPU, said in
// a note; an explicitly asked-for GPU that cannot is an error.
func (x *experiment) useDevice(name string) error {
	need := deviceNeed{seqLen: x.cfg.MaxLength, batch: x.cfg.BatchSize, grad: needsGradients(x.cfg.Metric)}
	dev, info, err := openDevice(x.m, name, x.res.Device, need)
	if err != nil {
		if x.cfg.Device != Auto {
			return err
		}
		x.res.Device = CPU
		x.note(fmt.Sprintf("device auto runs on the CPU: %v", err))
		return nil
	}
	x.dev, x.res.Backend = dev, info
	x.logf("device: %s, GEMM %s, %s free of %s", info.Name, info.GEMM, gigabytes(info.MemoryFree), gigabytes(info.MemoryTotal))
	return nil
}

// fingerprint hashes every parameter's name, dtype, shape and bytes.
func fingerprint(m *model.Model) string {
	h := sha256.New()
	var b [8]byte
	for _, t := range m.Params {
		h.Write([]byte(t.Name))
		h.Write([]byte{0, byte(t.DType)})
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (x *experiment) data(ctx context.Context) error {
	var texts []string
	info := DataInfo{MaxLength: x.cfg.MaxLength}
	if x.cfg.DataFile != "" {
		t, err := data.ReadTexts(x.cfg.DataFile)
		if err != nil {
			return err
		}
		texts, info.Source = t, x.cfg.DataFile
	} else {
		texts, info.Source, info.SmokeSet = smoke.Smoke(), smoke.SmokeName, true
	}
	info.TextsRead = len(texts)
	if x.cfg.MaxSamples > 0 && x.cfg.MaxSamples < len(texts) {
		texts = texts[:x.cfg.MaxSamples]
	}
	tok := x.m.Tokenizer
	info.AddBOS = tok.AddBOS() && tok.BOS() >= 0
	h := sha256.New()
	for _, t := range texts {
		ids := eval.Encode(tok, t)
		if len(ids) > x.cfg.MaxLength {
			ids = ids[:x.cfg.MaxLength]
			info.Truncated++
		}
		if len(ids) < 2 {
			info.Skipped++
			continue
		}
		x.texts = append(x.texts, t)
		x.seqs = append(x.seqs, ids)
		info.Tokens += len(ids)
		info.Predicted += len(ids) - 1
		h.Write([]byte(t))
		h.Write([]byte{'\n'})
	}
	if len(x.texts) == 0 {
		return fmt.Errorf("none of the %d texts of %s has two tokens to predict from", len(texts), info.Source)
	}
	info.TextsUsed = len(x.texts)
	info.Fingerprint = hex.EncodeToString(h.Sum(nil))
	info.Note = fmt.Sprintf("calibration and evaluation use the same %d texts (%d predicted tokens, truncated at %d tokens)", info.TextsUsed, info.Predicted, info.MaxLength)
	if info.SmokeSet {
		info.Note += "; built-in smoke set: checks that the pipeline works, not a measure of model quality"
	}
	x.res.Data = info
	x.logf("data: %s", info.Note)
	return nil
}

func (x *experiment) evaluate(ctx context.Context, phase string) (eval.Result, error) {
	return evaluateParallel(ctx, x.m, x.texts, x.cfg.MaxLength, x.cfg.BatchSize, x.rep, phase)
}

func (x *experiment) baseline(ctx context.Context) error {
	r, err := x.evaluate(ctx, "evaluate baseline")
	if err != nil {
		return err
	}
	x.res.Baseline = r
	x.logf("baseline: PPL %.4f, token accuracy %.4f over %d tokens", r.Perplexity, r.TokenAccuracy, r.NTokens)
	return nil
}

// scores computes the metric on seqs with seed (peak heap measured).
func (x *experiment) scores(ctx context.Context, seqs [][]int, seed uint64, phase string) (*sensitivity.Scores, uint64, error) {
	stop := peakHeap()
	s, err := sensitivity.Compute(ctx, x.m, seqs, sensitivity.Options{
		Metric: x.cfg.Metric, Workers: x.cfg.BatchSize, Probes: x.cfg.Probes, FisherSamples: x.cfg.FisherSamples,
		Seed: seed, IncludeVectors: x.cfg.IncludeVectors,
	}, phaseReporter{x.rep, phase})
	return s, stop(), err
}

func (x *experiment) sensitivity(ctx context.Context) error {
	t0 := time.Now()
	seed := x.cfg.Seeds[0]
	s, peak, err := x.scores(ctx, x.seqs, seed, "sensitivity "+string(x.cfg.Metric))
	if err != nil {
		return err
	}
	x.src = s
	x.res.Tensors = s.Tensors
	x.res.Sensitivity = SensitivityInfo{Metric: x.cfg.Metric, Meaning: x.cfg.Metric.Meaning(), Seed: seed,
		Sequences: s.Sequences, Tokens: s.Tokens, MeanLoss: s.MeanLoss, Seconds: time.Since(t0).Seconds(),
		PeakHeapBytes: peak, Notes: s.Notes}
	return nil
}

func (x *experiment) selectSets(ctx context.Context, s *sensitivity.Scores) (top, bottom *rank.Set, err error) {
	wantBottom := false
	for _, c := range x.cfg.Controls {
		wantBottom = wantBottom || c == BottomK
	}
	return rank.Select(ctx, s.Source(), rank.Options{K: x.cfg.TopK, Global: x.cfg.Mode == Global, Top: true, Bottom: wantBottom})
}

func (x *experiment) rank(ctx context.Context) error {
	top, bottom, err := x.selectSets(ctx, x.src)
	if err != nil {
		return err
	}
	x.res.Top, x.res.Bottom = top, bottom
	x.res.TopValues = make([]float64, len(top.Entries))
	for i, e := range top.Entries {
		x.res.TopValues[i] = x.m.Params[x.src.Params[e.Tensor]].At(int(e.Flat))
	}
	x.logf("top-k: %d weights selected (%s, k=%d)", top.Len(), x.cfg.Mode, x.cfg.TopK)
	if bottom != nil {
		if n := rank.Overlap(top, bottom); n > 0 {
			x.note(fmt.Sprintf("top_k and bottom_k share %d weights (tensors with fewer than 2k weights)", n))
		}
	}
	return nil
}

// scoreStats streams every tensor's scores once more for the per-tensor
// distribution (parallel over tensors) and keeps a proportional sample of
// all scores for plots.
func (x *experiment) scoreStats(ctx context.Context) error {
	ts := x.src.Tensors
	out := make([]TensorScoreStats, len(ts))
	samples := make([][]float64, len(ts))
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range ts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st := stats.NewStream(0, uint64(i))
			n := ts[i].Len()
			buf := make([]float32, min(n, 1<<16))
			for off := int64(0); off < n; off += int64(len(buf)) {
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					return
				}
				b := buf[:min(int64(len(buf)), n-off)]
				if errs[i] = x.src.ScoreRange(i, off, b); errs[i] != nil {
					return
				}
				st.Add(b)
			}
			out[i] = TensorScoreStats{Name: ts[i].Name, Shape: ts[i].Shape, TensorStats: st.Result()}
			samples[i] = st.Sample()
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	x.res.Sensitivity.Tensors = out
	// Proportional sample: tensor i contributes ≈ stats.DefaultReservoir·n_i/N.
	total := float64(x.src.Len())
	r := rng.New(0, "plot_sample")
	for i, smp := range samples {
		want := min(len(smp), int(float64(stats.DefaultReservoir)*float64(ts[i].Len())/total+0.5))
		r.Shuffle(len(smp), func(a, b int) { smp[a], smp[b] = smp[b], smp[a] })
		x.res.Sensitivity.Sample = append(x.res.Sensitivity.Sample, smp[:want]...)
	}
	return nil
}

// bootstrap draws len(seqs) sequences with replacement, from seed.
func bootstrap(seqs [][]int, seed uint64) [][]int {
	r := rng.New(seed, "calibration_resample")
	out := make([][]int, len(seqs))
	for i := range out {
		out[i] = seqs[r.IntN(len(seqs))]
	}
	return out
}

func (x *experiment) stability(ctx context.Context) error {
	st := &Stability{Seeds: x.cfg.Seeds,
		Resample: fmt.Sprintf("bootstrap: %d calibration sequences drawn with replacement from the %d, per seed", len(x.seqs), len(x.seqs))}
	var keys [][]int64
	for _, seed := range x.cfg.Seeds {
		s, _, err := x.scores(ctx, bootstrap(x.seqs, seed), seed, fmt.Sprintf("stability seed %d", seed))
		if err != nil {
			return err
		}
		top, bottom, err := x.selectSets(ctx, s)
		if err != nil {
			return err
		}
		st.Sets = append(st.Sets, top)
		st.Bottoms = append(st.Bottoms, bottom)
		keys = append(keys, top.Keys())
		st.WithFull = append(st.WithFull, rank.Jaccard(top, x.res.Top))
	}
	st.Overlaps = stats.JaccardAllPairs(keys)
	if x.cfg.Metric == Magnitude {
		st.Note = "magnitude does not read data: every resample gives the same set, so the overlap is 1 by construction"
	}
	x.res.Stability = st
	x.logf("stability: Jaccard over %d seed pairs mean %.4f, std %.4f, min %.4f", len(st.Overlaps.Pairs), st.Overlaps.Mean, st.Overlaps.Std, st.Overlaps.Min)
	return nil
}

// targets groups a set's entries by tensor.
func (x *experiment) targets(s *rank.Set) ([]perturb.Target, []int) {
	byTensor := map[int][]int64{}
	var order []int
	for _, e := range s.Entries {
		if _, ok := byTensor[e.Tensor]; !ok {
			order = append(order, e.Tensor)
		}
		byTensor[e.Tensor] = append(byTensor[e.Tensor], e.Flat)
	}
	var ts []perturb.Target
	var params []int
	for _, k := range order {
		p := x.src.Params[k]
		ts = append(ts, perturb.Target{T: x.m.Params[p], Flat: byTensor[k]})
		params = append(params, p)
	}
	return ts, params
}

// perturbAndEvaluate applies the run's perturbation to set with seed,
// evaluates, and restores (checked by checksum).
func (x *experiment) perturbAndEvaluate(ctx context.Context, kind string, set, top *rank.Set, seed uint64) (SetResult, error) {
	t0 := time.Now()
	spec, err := x.cfg.PerturbSpec(seed)
	if err != nil {
		return SetResult{}, err
	}
	targets, params := x.targets(set)
	var r eval.Result
	pr, err := perturbModel(ctx, x.m, targets, params, spec, func(ctx context.Context) error {
		var err error
		r, err = x.evaluate(ctx, fmt.Sprintf("perturb %s %s seed %d", x.cfg.Perturb, kind, seed))
		return err
	})
	if err != nil {
		return SetResult{}, err
	}
	var sum float64
	for _, e := range set.Entries {
		sum += float64(e.Score)
	}
	base := x.res.Baseline
	return SetResult{Kind: kind, Selected: pr.Selected, Changed: pr.Changed, Flipped: pr.Flipped,
		OverlapTop: rank.Overlap(set, top), MeanScore: sum / float64(max(1, set.Len())),
		PPL: r.Perplexity, Accuracy: r.TokenAccuracy, DeltaPPL: r.Perplexity - base.Perplexity,
		DeltaAcc: r.TokenAccuracy - base.TokenAccuracy, Seconds: time.Since(t0).Seconds()}, nil
}

func (x *experiment) perturbation(ctx context.Context) error {
	spec, err := x.cfg.PerturbSpec(0)
	if err != nil {
		return err
	}
	p := &PerturbationResults{Kind: x.cfg.Perturb, Spec: describeSpec(x.cfg, spec), TopKFrom: "the full calibration set (the same top-k and bottom-k sets for every seed)"}
	if x.res.Stability != nil {
		p.TopKFrom = "each seed's calibration resample (the stability sets)"
	}
	kinds := []string{"top_k"}
	for _, c := range x.cfg.Controls {
		kinds = append(kinds, string(c))
	}
	for si, seed := range x.cfg.Seeds {
		top, bottom := x.res.Top, x.res.Bottom
		if x.res.Stability != nil {
			top, bottom = x.res.Stability.Sets[si], x.res.Stability.Bottoms[si]
		}
		sr := SeedResult{Seed: seed}
		for _, kind := range kinds {
			var set *rank.Set
			switch kind {
			case "top_k":
				set = top
			case string(BottomK):
				set = bottom
			case string(RandomK):
				set = rank.Random(x.src.Tensors, x.cfg.TopK, x.cfg.Mode == Global, seed)
				if err := rank.FillScores(set, x.src.Source()); err != nil {
					return err
				}
			}
			r, err := x.perturbAndEvaluate(ctx, kind, set, top, seed)
			if err != nil {
				return err
			}
			x.logf("seed %d %s: %d weights (%d changed), PPL %.4f (Δ %+.4g), accuracy %.4f (Δ %+.4g)", seed, kind, r.Selected, r.Changed, r.PPL, r.DeltaPPL, r.Accuracy, r.DeltaAcc)
			sr.Sets = append(sr.Sets, r)
		}
		p.Seeds = append(p.Seeds, sr)
	}
	values := func(kind string, f func(SetResult) float64) []float64 {
		var v []float64
		for _, s := range p.Seeds {
			for _, r := range s.Sets {
				if r.Kind == kind {
					v = append(v, f(r))
				}
			}
		}
		return v
	}
	dppl := func(r SetResult) float64 { return r.DeltaPPL }
	dacc := func(r SetResult) float64 { return r.DeltaAcc }
	for _, kind := range kinds {
		p.Summary = append(p.Summary, SetSummary{Kind: kind, DeltaPPL: stats.Summarize(values(kind, dppl)), DeltaAcc: stats.Summarize(values(kind, dacc))})
	}
	for _, kind := range kinds[1:] {
		p.Tests = append(p.Tests, Comparison{Control: kind,
			DeltaPPL: stats.WelchT(values("top_k", dppl), values(kind, dppl)), DeltaPPLD: stats.CohenD(values("top_k", dppl), values(kind, dppl)),
			DeltaAcc: stats.WelchT(values("top_k", dacc), values(kind, dacc)), DeltaAccD: stats.CohenD(values("top_k", dacc), values(kind, dacc))})
	}
	if x.res.Stability == nil && (x.cfg.Perturb == Zero || x.cfg.Perturb == SignFlip) {
		p.Notes = append(p.Notes, fmt.Sprintf("%s is deterministic and, without --stability-check, top_k (and bottom_k) are the same set for every seed: their ΔPPL does not vary across seeds, so the t-tests measure top_k against the seed-to-seed spread of random_k only (use --stability-check for per-seed top-k sets)", x.cfg.Perturb))
	}
	x.res.Perturbation = p
	return nil
}

func describeSpec(cfg Config, s perturb.Spec) string {
	switch s.Kind {
	case choice.Zero:
		return "zero: w ← 0"
	case choice.SignFlip:
		return fmt.Sprintf("sign_flip: w ← −%g·w", s.Scale)
	case choice.GaussNoise:
		return fmt.Sprintf("gauss_noise: w ← w + %g·|w|·N(0,1), seeded per seed", s.Scale)
	case choice.BitFlip:
		return fmt.Sprintf("bit_flip: each selected weight with probability %g flips bit %s of its stored value, seeded per seed", s.Prob, cfg.PerturbBit)
	}
	return string(s.Kind)
}

func (x *experiment) superWeights(ctx context.Context) error {
	rep, err := superweight.Detect(ctx, x.m, x.seqs[0], x.cfg.SpikeThreshold)
	if err != nil {
		return err
	}
	prompt := x.texts[0]
	sw := &SuperWeights{Prompt: prompt, Report: rep, Controls: SuperWeightControls}
	x.logf("super weights:\n%s", strings.TrimRight(rep.String(), "\n"))
	eval := func(ctx context.Context) (float64, float64, error) {
		r, err := x.evaluate(ctx, "super-weight zeroing")
		return r.Perplexity, r.TokenAccuracy, err
	}
	for _, c := range rep.Candidates {
		z, err := superweight.ZeroTest(ctx, x.m, c, x.res.Baseline.Perplexity, SuperWeightControls, x.cfg.Seeds[0], eval)
		if err != nil {
			return err
		}
		x.logf("zeroing %s [%d, %d]: PPL ×%.4g; %d random single weights: ×%.4g mean, ×%.4g max", c.Param, c.Row, c.Col, z.PPLRatio, len(z.Controls), z.ControlRatioMean, z.ControlRatioMax)
		sw.Zeroing = append(sw.Zeroing, z)
	}
	x.res.SuperWeights = sw
	return nil
}

// phaseReporter renames the phase of a sub-step's progress.
type phaseReporter struct {
	rep   progress.Reporter
	phase string
}

func (p phaseReporter) Progress(sub string, done, total int) {
	if strings.HasPrefix(sub, "sensitivity ") && strings.Contains(sub, " probe ") {
		// keep the probe counter of hutchinson_diag
		p.rep.Progress(p.phase+sub[strings.Index(sub, " probe "):], done, total)
		return
	}
	p.rep.Progress(p.phase, done, total)
}

// peakHeap samples the live heap every 10 ms until the returned function is
// called, which returns the largest value seen.
func peakHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			return sample[0].Value.Uint64()
		}
		return 0
	}
	var mu sync.Mutex
	peak := read()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := read()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(done)
		v := read()
		mu.Lock()
		defer mu.Unlock()
		return max(peak, v)
	}
}
