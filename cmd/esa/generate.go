package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"

	"esa/stdlib/eval"
)

func init() {
	register("generate", "greedy text generation from a prompt (a smoke check of a model)", func(args []string) int {
		return runGenerate(args, os.Stdout, os.Stderr)
	})
}

// generateReport is the --json output of esa generate.
type generateReport struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
	Text   string `json:"text"`   // the continuation only
	Tokens []int  `json:"tokens"` // its token ids
}

func runGenerate(args []string, stdout, stderr io.Writer) int {
	var mf modelFlags
	fs := newFlagSet("generate", "--model M [--prompt P] [-n N] [--json]", stderr)
	mf.register(fs, true)
	prompt := fs.String("prompt", "", "text to continue (default: start from BOS)")
	n := fs.Int("n", 256, "most tokens to generate (stops earlier at EOS or the model's max positions)")
	asJSON := fs.Bool("json", false, "print JSON for machines")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *n < 0 {
		fmt.Fprintf(stderr, "esa generate: -n %d must not be negative\n", *n)
		return 2
	}
	c, err := mf.open()
	if err != nil {
		fmt.Fprintf(stderr, "esa generate: %v\n", err)
		return 1
	}
	defer c.Close()
	if _, err := c.NeedTokenizer(); err != nil {
		fmt.Fprintf(stderr, "esa generate: %v\n", err)
		return 1
	}
	m, err := c.Model()
	if err != nil {
		fmt.Fprintf(stderr, "esa generate: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	g, err := eval.Generate(ctx, m, *prompt, *n)
	if err != nil {
		fmt.Fprintf(stderr, "esa generate: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(generateReport{Model: c.Path, Prompt: *prompt, Text: g.Text, Tokens: g.Tokens}); err != nil {
			fmt.Fprintf(stderr, "esa generate: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(stdout, *prompt+g.Text)
	return 0
}
