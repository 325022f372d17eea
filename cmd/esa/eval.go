package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"text/tabwriter"

	"esa/stdlib/data"
	"esa/stdlib/eval"
)

func init() {
	register("eval", "perplexity and token accuracy of a model on a data file", func(args []string) int {
		return runEval(args, os.Stdout, os.Stderr)
	})
}

// evalReport is the --json output of esa eval: eval.Result's fields, with
// non-finite values (a damaged model's infinite perplexity) written as the
// strings "inf", "-inf" or "nan", since JSON has no such numbers.
type evalReport struct {
	Perplexity    any     `json:"perplexity"`
	TokenAccuracy float64 `json:"token_accuracy"`
	MeanNLL       any     `json:"mean_nll"`
	NTexts        int     `json:"n_texts"`
	NTokens       int     `json:"n_tokens"`
	NSkipped      int     `json:"n_skipped"`
	NTruncated    int     `json:"n_truncated"`
	NWindows      int     `json:"n_windows"`
	MaxLength     int     `json:"max_length"`
	Stride        int     `json:"stride"`
	AddBOS        bool    `json:"add_bos"`
	Model         string  `json:"model"`
	DataFile      string  `json:"data_file"`
	DType         string  `json:"dtype"`
}

func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return f
}

func runEval(args []string, stdout, stderr io.Writer) int {
	var mf modelFlags
	fs := newFlagSet("eval", "--model M --data-file F [--max-length N] [--max-samples N] [--stride S] [--json]", stderr)
	mf.register(fs, true)
	dataFile := fs.String("data-file", "", "texts: one per non-empty line, or JSONL with a \"text\" field (required)")
	maxLen := fs.Int("max-length", 0, "tokens per forward pass, BOS included (default: the model's max_position_embeddings)")
	maxSamples := fs.Int("max-samples", 0, "evaluate only the first N texts (default: all)")
	stride := fs.Int("stride", 0, "slide a max-length window by this many tokens so long texts are scored whole (default 0: truncate at max-length)")
	asJSON := fs.Bool("json", false, "print JSON for machines")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *dataFile == "" {
		fmt.Fprintln(stderr, "esa eval: --data-file is required")
		fs.Usage()
		return 2
	}
	if *maxLen < 0 || *maxSamples < 0 || *stride < 0 {
		fmt.Fprintln(stderr, "esa eval: --max-length, --max-samples and --stride must not be negative")
		return 2
	}
	// Read the data first: a missing file fails before the model loads.
	texts, err := data.ReadTexts(*dataFile)
	if err != nil {
		fmt.Fprintf(stderr, "esa eval: %v\n", err)
		return 1
	}
	c, err := mf.open()
	if err != nil {
		fmt.Fprintf(stderr, "esa eval: %v\n", err)
		return 1
	}
	defer c.Close()
	if _, err := c.NeedTokenizer(); err != nil {
		fmt.Fprintf(stderr, "esa eval: %v\n", err)
		return 1
	}
	m, err := c.Model()
	if err != nil {
		fmt.Fprintf(stderr, "esa eval: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := eval.Evaluate(ctx, m, texts, eval.Options{MaxLength: *maxLen, MaxSamples: *maxSamples, Stride: *stride}, newTermProgress(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "esa eval: %v\n", err)
		return 1
	}
	rep := evalReport{Perplexity: jsonFloat(res.Perplexity), TokenAccuracy: res.TokenAccuracy, MeanNLL: jsonFloat(res.MeanNLL),
		NTexts: res.NTexts, NTokens: res.NTokens, NSkipped: res.NSkipped, NTruncated: res.NTruncated, NWindows: res.NWindows,
		MaxLength: res.MaxLength, Stride: res.Stride, AddBOS: res.AddBOS, Model: c.Path, DataFile: *dataFile, DType: joinDTypes(c.DTypes())}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "esa eval: %v\n", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (%s)\n", rep.Model, rep.DType)
	fmt.Fprintf(tw, "data\t%s\n", rep.DataFile)
	fmt.Fprintf(tw, "perplexity\t%.4f\n", res.Perplexity)
	fmt.Fprintf(tw, "token accuracy\t%.4f\n", res.TokenAccuracy)
	fmt.Fprintf(tw, "mean NLL\t%.6f nats/token\n", res.MeanNLL)
	mode := "truncated at max-length"
	if res.Stride > 0 {
		mode = fmt.Sprintf("sliding windows, stride %d", res.Stride)
	}
	fmt.Fprintf(tw, "evaluated\t%d texts, %d predicted tokens, %d windows (max-length %d, %s, BOS %v)\n",
		res.NTexts, res.NTokens, res.NWindows, res.MaxLength, mode, res.AddBOS)
	if res.NTruncated > 0 {
		fmt.Fprintf(tw, "truncated\t%d texts were cut at %d tokens (use --stride to score them whole)\n", res.NTruncated, res.MaxLength)
	}
	if res.NSkipped > 0 {
		fmt.Fprintf(tw, "skipped\t%d texts shorter than two tokens\n", res.NSkipped)
	}
	tw.Flush()
	return 0
}

func joinDTypes(ds []string) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += "+"
		}
		s += d
	}
	return s
}
