package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"esa/stdlib/checkpoint"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

func init() {
	register("info", "describe a model: architecture, parameters, scored weights, dtype, bytes, tensors", func(args []string) int {
		return runInfo(args, os.Stdout, os.Stderr)
	})
}

// infoTensor is one row of --tensors.
type infoTensor struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	DType  string `json:"dtype"`
	Bytes  int64  `json:"bytes"`
	Scored bool   `json:"scored"`
}

type infoMemory struct {
	DType    string `json:"dtype"`
	SeqLen   int    `json:"seq_len"`
	Weights  int64  `json:"weights"`
	Eval     int64  `json:"eval"`
	GradPass int64  `json:"grad_pass"`
}

type infoTokenizer struct {
	Vocab  int  `json:"vocab"`
	BOS    int  `json:"bos"`
	EOS    int  `json:"eos"`
	AddBOS bool `json:"add_bos"`
}

// infoReport is the --json output of esa info.
type infoReport struct {
	Path          string         `json:"path"`
	Format        string         `json:"format"` // hf, llama2c, config
	Architecture  string         `json:"architecture"`
	Parameters    int64          `json:"parameters"`
	ScoredWeights int64          `json:"scored_weights"`
	DTypes        []string       `json:"dtypes"`
	Bytes         int64          `json:"bytes"` // stored weights (with --config: estimated from the config dtype)
	Files         []string       `json:"files,omitempty"`
	Config        model.Config   `json:"config"`
	Tokenizer     *infoTokenizer `json:"tokenizer"` // null when none was found
	TokenizerNote string         `json:"tokenizer_note,omitempty"`
	Memory        *infoMemory    `json:"memory,omitempty"`
	Notes         []string       `json:"notes,omitempty"`
	Tensors       []infoTensor   `json:"tensors,omitempty"`
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	var mf modelFlags
	fs := newFlagSet("info", "--model M | --config config.json [--tensors] [--json]", stderr)
	mf.register(fs, false)
	cfgPath := fs.String("config", "", "describe the model of a config.json alone (no weights): parameters, scored weights, memory estimates")
	tensors := fs.Bool("tensors", false, "list every tensor with its shape, dtype and size")
	asJSON := fs.Bool("json", false, "print JSON for machines")
	seqLen := fs.Int("seq-len", 512, "sequence length for the memory estimates (capped at max_position_embeddings)")
	memDType := fs.String("dtype", "", "dtype for the memory estimates: fp32, bf16, fp16 (default: the stored dtype, or the config's torch_dtype)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if mf.model != "" && *cfgPath != "" {
		fmt.Fprintln(stderr, "esa info: give --model or --config, not both (neither: the built-in model)")
		fs.Usage()
		return 2
	}
	if *seqLen <= 0 {
		fmt.Fprintf(stderr, "esa info: --seq-len %d must be positive\n", *seqLen)
		return 2
	}
	if *cfgPath != "" && (*tensors || mf.tokenizer != "") {
		fmt.Fprintln(stderr, "esa info: --tensors and --tokenizer need --model (a config alone has no tensors or tokenizer)")
		return 2
	}
	var rep infoReport
	var err error
	if *cfgPath != "" {
		rep, err = infoFromConfig(*cfgPath, *memDType)
	} else {
		rep, err = infoFromModel(&mf, *tensors, *memDType)
	}
	if err != nil {
		fmt.Fprintf(stderr, "esa info: %v\n", err)
		return 1
	}
	rep.Memory, err = estimate(rep.Config, rep.Memory.DType, *seqLen)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no memory estimate: %v", err))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "esa info: %v\n", err)
			return 1
		}
		return 0
	}
	printInfo(stdout, rep)
	return 0
}

// memoryDType picks the dtype for estimates: the flag, else the given default.
func memoryDType(flagValue, def string) (string, error) {
	s := flagValue
	if s == "" {
		s = def
	}
	dt, err := tensor.ParseDType(s)
	if err != nil || dt == tensor.F64 {
		if flagValue == "" {
			return "F32", nil // an unusual stored dtype: estimate as float32
		}
		return "", fmt.Errorf("unknown --dtype %q (valid: fp32, bf16, fp16)", flagValue)
	}
	return dt.String(), nil
}

func infoFromConfig(path, dtypeFlag string) (infoReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return infoReport{}, err
	}
	cfg, err := model.ParseHFConfig(b)
	if err != nil {
		return infoReport{}, fmt.Errorf("%s: %v", path, err)
	}
	params, err := model.ParamCount(cfg)
	if err != nil {
		return infoReport{}, fmt.Errorf("%s: %v", path, err)
	}
	scored, err := model.ScoredCount(cfg)
	if err != nil {
		return infoReport{}, fmt.Errorf("%s: %v", path, err)
	}
	dt, err := memoryDType(dtypeFlag, cfg.DType)
	if err != nil {
		return infoReport{}, err
	}
	d, _ := tensor.ParseDType(dt)
	return infoReport{
		Path: path, Format: "config", Architecture: cfg.Architecture, Parameters: params, ScoredWeights: scored,
		DTypes: []string{dt}, Bytes: params * int64(d.Size()), Config: cfg, Memory: &infoMemory{DType: dt},
	}, nil
}

func infoFromModel(mf *modelFlags, listTensors bool, dtypeFlag string) (infoReport, error) {
	c, err := mf.open()
	if err != nil {
		return infoReport{}, err
	}
	defer c.Close()
	// Building the model checks that the engine can run it; a family it
	// cannot run yet is still described, with a note.
	notes := append([]string(nil), c.Notes...)
	if _, err := c.Model(); err != nil {
		notes = append(notes, fmt.Sprintf("not runnable here: %v", err))
	}
	stored := "F32"
	if ds := c.DTypes(); len(ds) == 1 {
		stored = ds[0]
	} else if len(ds) > 1 {
		stored = largestDType(c)
	}
	dt, err := memoryDType(dtypeFlag, stored)
	if err != nil {
		return infoReport{}, err
	}
	rep := infoReport{
		Path: c.Path, Format: c.Format, Architecture: c.Config.Architecture, Parameters: c.Parameters(),
		ScoredWeights: c.ScoredWeights(), DTypes: c.DTypes(), Bytes: c.Bytes(), Files: c.Files, Config: c.Config,
		Memory: &infoMemory{DType: dt}, Notes: notes,
	}
	if tok := c.Tokenizer; tok != nil {
		rep.Tokenizer = &infoTokenizer{Vocab: tok.VocabSize(), BOS: tok.BOS(), EOS: tok.EOS(), AddBOS: tok.AddBOS()}
	} else if c.TokenizerErr != nil {
		rep.TokenizerNote = c.TokenizerErr.Error()
	}
	if listTensors {
		for _, t := range c.Tensors {
			rep.Tensors = append(rep.Tensors, infoTensor{Name: t.Name, Shape: t.Shape, DType: t.DType.String(), Bytes: t.Bytes(), Scored: len(t.Shape) >= 2})
		}
	}
	return rep, nil
}

// largestDType is the dtype holding the most bytes (mixed checkpoints keep
// norms in float32 and matrices in bf16, say).
func largestDType(c *checkpoint.Checkpoint) string {
	by := map[string]int64{}
	best := ""
	for _, t := range c.Tensors {
		d := t.DType.String()
		by[d] += t.Bytes()
		if best == "" || by[d] > by[best] {
			best = d
		}
	}
	return best
}

func estimate(cfg model.Config, dtype string, seqLen int) (*infoMemory, error) {
	if cfg.MaxSeqLen > 0 && seqLen > cfg.MaxSeqLen {
		seqLen = cfg.MaxSeqLen
	}
	m := &infoMemory{DType: dtype, SeqLen: seqLen}
	dt, err := tensor.ParseDType(dtype)
	if err != nil {
		return nil, err
	}
	est, err := model.EstimateMemory(cfg, dt, seqLen, 1)
	if err != nil {
		return nil, err
	}
	m.Weights, m.Eval, m.GradPass = est.Weights, est.Eval, est.GradPass
	return m, nil
}

func printInfo(w io.Writer, r infoReport) {
	c := r.Config
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (%s)\n", r.Path, r.Format)
	arch := fmt.Sprintf("%s: %d layers, hidden %d, intermediate %d, %d heads (%d kv), head_dim %d, vocab %d, max positions %d",
		c.Architecture, c.Layers, c.Dim, c.Hidden, c.Heads, c.KVHeads, c.HeadDim, c.Vocab, c.MaxSeqLen)
	if c.NumExperts > 0 {
		arch += fmt.Sprintf(", %d experts (top %d)", c.NumExperts, c.ExpertsPerToken)
	}
	fmt.Fprintf(tw, "architecture\t%s\n", arch)
	tied := "untied head"
	if c.TiedEmbeds {
		tied = "tied head"
	}
	rope := "half-split RoPE"
	if c.RopeInterleaved {
		rope = "interleaved RoPE (llama2.c)"
	}
	if c.Architecture == "gpt2" {
		rope = "learned positions"
	}
	fmt.Fprintf(tw, "details\t%s, %s, theta %g, norm eps %g, %s\n", tied, rope, c.RopeTheta, c.NormEps, c.HiddenAct)
	fmt.Fprintf(tw, "parameters\t%s\n", thousands(r.Parameters))
	fmt.Fprintf(tw, "scored weights\t%s (tensors of rank ≥ 2, tied once)\n", thousands(r.ScoredWeights))
	fmt.Fprintf(tw, "dtype\t%s\n", strings.Join(r.DTypes, ", "))
	what := "stored"
	if r.Format == "config" {
		what = "estimated from the config"
	}
	fmt.Fprintf(tw, "bytes\t%s (%s, %s)\n", thousands(r.Bytes), humanBytes(r.Bytes), what)
	if m := r.Memory; m != nil {
		fmt.Fprintf(tw, "memory (%s, %d tokens)\tweights %s, eval ≈ %s, gradient pass ≈ %s\n", m.DType, m.SeqLen,
			humanBytes(m.Weights), humanBytes(m.Eval), humanBytes(m.GradPass))
	}
	switch {
	case r.Tokenizer != nil:
		fmt.Fprintf(tw, "tokenizer\tvocab %d, BOS %d, EOS %d, add BOS %v\n", r.Tokenizer.Vocab, r.Tokenizer.BOS, r.Tokenizer.EOS, r.Tokenizer.AddBOS)
	case r.TokenizerNote != "":
		fmt.Fprintf(tw, "tokenizer\tnone: %s\n", r.TokenizerNote)
	}
	for i, f := range r.Files {
		label := ""
		if i == 0 {
			label = "files"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, f)
	}
	for i, n := range r.Notes {
		label := ""
		if i == 0 {
			label = "notes"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, n)
	}
	tw.Flush()
	if len(r.Tensors) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "tensor\tshape\tdtype\tbytes\tscored")
		for _, t := range r.Tensors {
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%v\n", t.Name, t.Shape, t.DType, thousands(t.Bytes), t.Scored)
		}
		tw.Flush()
	}
}
