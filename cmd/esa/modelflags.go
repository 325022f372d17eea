package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"esa/stdlib/checkpoint"
)

// modelFlags are the flags every command that loads a model shares.
type modelFlags struct {
	model, tokenizer, dtype string
}

func (f *modelFlags) register(fs *flag.FlagSet, withDType bool) {
	const help = "model: a Hugging Face folder, a llama2.c .bin, a Hub id (org/name) in the local HF cache, or builtin (the default)"
	fs.StringVar(&f.model, "model", "", help)
	fs.StringVar(&f.model, "m", "", "short for --model")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer file (llama2.c tokenizer.bin or tokenizer.json) when it is not beside the model")
	if withDType {
		fs.StringVar(&f.dtype, "dtype", "", "convert the weights after loading: fp32, bf16 or fp16 (default: as stored)")
	}
}

func (f *modelFlags) open() (*checkpoint.Checkpoint, error) {
	return checkpoint.Open(f.model, checkpoint.Options{Tokenizer: f.tokenizer, DType: f.dtype})
}

// newFlagSet makes a FlagSet that reports errors and usage on stderr and
// returns them to the caller instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: esa %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns (exit code, false) when the command
// should stop: 0 after -h, 2 on a usage error. Positional arguments are
// refused so that a mistyped flag is never silently ignored.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "esa %s: unexpected argument %q (flags start with -)\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// termProgress draws "phase done/total" on stderr when it is a terminal.
type termProgress struct {
	mu   sync.Mutex
	w    io.Writer
	last string
}

func newTermProgress(w io.Writer) *termProgress {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return &termProgress{w: w}
		}
	}
	return nil
}

func (p *termProgress) Progress(phase string, done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("%s %d/%d", phase, done, total)
	if total == 0 {
		s = fmt.Sprintf("%s %d", phase, done)
	}
	if s == p.last {
		return
	}
	pad := ""
	if n := len(p.last) - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
	p.last = s
	if total > 0 && done >= total {
		fmt.Fprintln(p.w)
		p.last = ""
	}
}

// thousands writes n with comma separators (260032 → "260,032").
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// humanBytes gives a binary-prefixed size ("1.0 MiB").
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
