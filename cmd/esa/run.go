package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/traefik/yaegi/interp"

	"esa/kernel/notebook"
	"esa/stdlib/symbols"
)

func init() {
	register("run", "execute a notebook headless: esa run NB.ipynb [-o OUT.ipynb] [--html OUT.html] [--param k=v]", runNotebook)
}

type paramFlag map[string]string

func (p paramFlag) String() string { return "" }
func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("--param wants NAME=VALUE, got %q", v)
	}
	p[k] = val
	return nil
}

func runNotebook(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("o", "", "write the executed notebook here (default: not written)")
	htmlOut := fs.String("html", "", "also write an HTML rendering here")
	params := paramFlag{}
	fs.Var(params, "param", "NAME=VALUE injected after the cell tagged \"parameters\" (repeatable)")
	// Accept flags after the notebook path too: esa run nb.ipynb -o out.ipynb.
	var nbPath string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		if nbPath != "" {
			fmt.Fprintln(os.Stderr, "esa run: one notebook at a time")
			return 2
		}
		nbPath, rest = fs.Arg(0), fs.Args()[1:]
	}
	if nbPath == "" {
		fmt.Fprintln(os.Stderr, "usage: esa run NOTEBOOK.ipynb [-o OUT.ipynb] [--html OUT.html] [--param k=v ...]")
		return 2
	}
	nb, err := notebook.Read(nbPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa run:", err)
		return 1
	}
	notebook.InjectParameters(nb, params)
	if _, err := newScriptSession(); err != nil { // also silences yaegi's logger
		fmt.Fprintln(os.Stderr, "esa run:", err)
		return 1
	}
	// Cells run in the notebook's folder, as Jupyter runs them, so relative
	// paths in a notebook mean the same under `esa run` and in Jupyter.
	// Output paths given on the command line stay relative to where esa ran.
	for _, p := range []*string{out, htmlOut} {
		if *p != "" {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	if dir := filepath.Dir(nbPath); dir != "." {
		old, err := os.Getwd()
		if err == nil {
			err = os.Chdir(dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa run:", err)
			return 1
		}
		defer os.Chdir(old) // the process's folder is global: give it back (tests call this in-process)
	}
	ctx, stop := interruptible()
	defer stop()
	runErr := notebook.Run(ctx, nb, []interp.Exports{symbols.Exports()}, nil)
	code := 0
	var ce *notebook.CellError
	if errors.As(runErr, &ce) {
		fmt.Fprintf(os.Stderr, "esa run: %s: cell %d failed:\n%s\n", nbPath, ce.Index, strings.Join(ce.Err.Traceback, "\n"))
		code = 1
	} else if runErr != nil {
		fmt.Fprintln(os.Stderr, "esa run:", runErr)
		return 1
	}
	if *out != "" {
		if err := nb.Write(*out); err != nil {
			fmt.Fprintln(os.Stderr, "esa run:", err)
			return 1
		}
	}
	if *htmlOut != "" {
		f, err := os.Create(*htmlOut)
		if err == nil {
			err = notebook.WriteHTML(f, nb, filepath.Base(nbPath))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa run:", err)
			return 1
		}
	}
	return code
}
