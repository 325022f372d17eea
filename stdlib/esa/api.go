package esa

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"esa/stdlib/display"

	"esa/gpu"
	"esa/stdlib/backend"
	"esa/stdlib/checkpoint"
	"esa/stdlib/data"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rank"
	"esa/stdlib/esa/sensitivity"
	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// The step-by-step API for notebooks: the same calls Run makes, one phase
// at a time. Progress goes to the reporter set with SetProgress, or by
// default to a display.Progress bar (updating in place in Jupyter and
// `esa run`, on stderr in a terminal). No call takes a Reporter argument:
// yaegi cannot pass a nil interface to compiled code.

var (
	progressMu  sync.Mutex
	progressSet progress.Reporter
)

// SetProgress sets where the step-by-step calls report progress (nil: the
// default display bar).
func SetProgress(r progress.Reporter) {
	progressMu.Lock()
	progressSet = r
	progressMu.Unlock()
}

func reporter() progress.Reporter {
	progressMu.Lock()
	r := progressSet
	progressMu.Unlock()
	if r != nil {
		return r
	}
	if display.Hosted() || stderrIsTerminal() {
		return display.NewProgress()
	}
	return progress.Nop{}
}

func stderrIsTerminal() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Load opens a checkpoint (Hugging Face folder, llama2.c .bin, or Hub id in
// the local cache) with its tokenizer; dtype "" keeps the stored dtype,
// otherwise every tensor is converted (bf16, fp16, fp32).
func Load(path string, dtype DType) (*model.Model, error) {
	return checkpoint.Load(path, checkpoint.Options{DType: string(dtype)})
}

var (
	devicesMu sync.Mutex
	// devices are the GPUs UseDevice put models on, to close when a model
	// moves again.
	devices = map[*model.Model]gpu.Device{}
)

// UseDevice makes m's passes (Evaluate, Sensitivity, PerturbEvaluate, ...)
// run on device — "cpu", "cuda", "cuda:N", or "auto" (a GPU when this build
// and machine have one and m fits it, else the CPU) — and says where they
// run now. A GPU is refused unless m fits its free memory for a gradient
// pass over one sequence of DefaultConfig().MaxLength tokens (longer
// sequences or a larger batch need more); it then keeps a copy of every
// weight used. UseDevice(m, "cpu") moves m back and frees that memory, as
// does moving m to another GPU. The weights themselves stay on the host:
// results are those of the CPU up to float32 rounding.
func UseDevice(m *model.Model, device Device) (string, error) {
	if m == nil {
		return "", errors.New("esa: UseDevice needs a model (from Load)")
	}
	d, err := ResolveDevice(device)
	if err != nil {
		return "", err
	}
	devicesMu.Lock()
	defer devicesMu.Unlock()
	toCPU := func() {
		if old := devices[m]; old != nil {
			m.SetBackend(backend.CPU())
			old.Close()
			delete(devices, m)
		}
	}
	if d.GPU() < 0 {
		toCPU()
		return string(CPU), nil
	}
	toCPU() // one GPU's copies at a time, freed before the next one's check
	need := deviceNeed{seqLen: DefaultConfig().MaxLength, batch: 1, grad: true}
	if m.Config.MaxSeqLen > 0 {
		need.seqLen = min(need.seqLen, m.Config.MaxSeqLen)
	}
	dev, info, err := openDevice(m, "the "+m.Config.Architecture+" model", d, need)
	if err != nil {
		if device == Auto {
			return fmt.Sprintf("%s (device auto: %v)", CPU, err), nil
		}
		return "", err
	}
	devices[m] = dev
	return fmt.Sprintf("%s (GEMM: %s; %s free of %s before the weights)", info.Name, info.GEMM, gigabytes(info.MemoryFree), gigabytes(info.MemoryTotal)), nil
}

// ReadTexts reads the texts of a data file the way Run's --data-file does
// (JSONL with a "text" field, or one text per non-empty line). path "" is
// the built-in smoke set; a named file that is missing or empty is an error,
// never a fallback to the smoke set.
func ReadTexts(path string) ([]string, error) {
	if path == "" {
		return smoke.Smoke(), nil
	}
	return data.ReadTexts(path)
}

// Evaluate is perplexity and token accuracy of m on texts truncated at
// maxLength tokens, with `batch` texts evaluated concurrently.
func Evaluate(ctx context.Context, m *model.Model, texts []string, maxLength, batch int) (eval.Result, error) {
	if m == nil || m.Tokenizer == nil {
		return eval.Result{}, errors.New("esa: Evaluate needs a model with a tokenizer")
	}
	var keep []string
	for _, t := range texts {
		if len(eval.Encode(m.Tokenizer, t)) >= 2 {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		return eval.Result{}, errors.New("esa: no text has two tokens to predict from")
	}
	r, err := evaluateParallel(ctx, m, keep, maxLength, batch, reporter(), "evaluate")
	r.NSkipped += len(texts) - len(keep)
	return r, err
}

// SensitivityOptions are the scoring options of Sensitivity.
type SensitivityOptions struct {
	MaxLength      int    // tokens per text (0: 128)
	Batch          int    // sequences in flight (0: 1)
	Probes         int    // hutchinson_diag (0: 10)
	FisherSamples  int    // hessian_diag (0: 1)
	Seed           uint64 // probes and sampled labels
	IncludeVectors bool   // also score rank-1 tensors
}

// Sensitivity scores every weight of m by metric over the calibration texts.
// The scores serve SelectTop/SelectBottom and their per-tensor statistics.
func Sensitivity(ctx context.Context, m *model.Model, texts []string, metric Metric, opt SensitivityOptions) (*sensitivity.Scores, error) {
	if m == nil || m.Tokenizer == nil {
		return nil, errors.New("esa: Sensitivity needs a model with a tokenizer")
	}
	L := opt.MaxLength
	if L <= 0 {
		L = 128
	}
	seqs, _ := sensitivity.Encode(m.Tokenizer, texts, L, m.Config.MaxSeqLen)
	return sensitivity.Compute(ctx, m, seqs, sensitivity.Options{Metric: metric, Workers: opt.Batch, Probes: opt.Probes,
		FisherSamples: opt.FisherSamples, Seed: opt.Seed, IncludeVectors: opt.IncludeVectors}, reporter())
}

// SelectTop selects the k highest scores per tensor (per_layer) or overall (global).
func SelectTop(ctx context.Context, s *sensitivity.Scores, k int, mode Mode) (*rank.Set, error) {
	top, _, err := rank.Select(ctx, s.Source(), rank.Options{K: k, Global: mode == Global, Top: true})
	return top, err
}

// SelectBottom selects the k lowest scores, same mode and count rules as SelectTop.
func SelectBottom(ctx context.Context, s *sensitivity.Scores, k int, mode Mode) (*rank.Set, error) {
	_, bottom, err := rank.Select(ctx, s.Source(), rank.Options{K: k, Global: mode == Global, Bottom: true})
	return bottom, err
}

// Rank selects the top-k and bottom-k sets (same mode and count rules as
// SelectTop) in one streaming pass over the scores, half the reading of
// SelectTop followed by SelectBottom; nothing is rescored.
func Rank(ctx context.Context, s *sensitivity.Scores, k int, mode Mode) (top, bottom *rank.Set, err error) {
	if s == nil {
		return nil, nil, errors.New("esa: Rank needs the scores of Sensitivity")
	}
	return rank.Select(ctx, s.Source(), rank.Options{K: k, Global: mode == Global, Top: true, Bottom: true})
}

// Jaccard is the overlap |a∩b| / |a∪b| of two selected sets of weights (1
// for two empty sets), e.g. of top-k sets scored on different calibration
// data. A nil set counts as empty: Results.Bottom is nil when bottom_k was
// not a control, and a cell must not panic on it.
func Jaccard(a, b *rank.Set) float64 {
	if a == nil {
		a = &rank.Set{}
	}
	if b == nil {
		b = &rank.Set{}
	}
	return rank.Jaccard(a, b)
}

// SelectRandom draws the random control of SelectTop's size and mode from seed, with
// the weights' scores filled in.
func SelectRandom(s *sensitivity.Scores, k int, mode Mode, seed uint64) (*rank.Set, error) {
	set := rank.Random(s.Tensors, k, mode == Global, seed)
	return set, rank.FillScores(set, s.Source())
}

// PerturbEvaluate applies spec to the weights of set (selected from s),
// evaluates m on texts, and restores the weights bit for bit (checked by
// checksum) whatever happens.
func PerturbEvaluate(ctx context.Context, m *model.Model, s *sensitivity.Scores, set *rank.Set, spec perturb.Spec, texts []string, maxLength, batch int) (eval.Result, perturb.Result, error) {
	x := &experiment{m: m, src: s}
	targets, params := x.targets(set)
	var r eval.Result
	pr, err := perturbModel(ctx, m, targets, params, spec, func(ctx context.Context) error {
		var err error
		r, err = Evaluate(ctx, m, texts, maxLength, batch)
		return err
	})
	return r, pr, err
}
