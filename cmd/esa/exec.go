package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/traefik/yaegi/interp"

	"esa/kernel/session"
	"esa/stdlib/symbols"
)

func init() {
	register("exec", "run Go code with the esa library: esa exec FILE.go | esa exec -e 'code'", runExec)
}

// newScriptSession is the session of esa exec and esa repl: output goes to
// the terminal, displays print their text.
func newScriptSession() (*session.Session, error) {
	log.SetOutput(io.Discard) // yaegi logs internal errors that are reported as cell errors
	return session.New(session.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Symbols: []interp.Exports{symbols.Exports()}})
}

// interruptible returns a context cancelled by Ctrl-C.
func interruptible() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sig); cancel() }
}

func printCellError(e *session.Error) {
	fmt.Fprintln(os.Stderr, strings.Join(e.Traceback, "\n"))
}

func runExec(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	expr := fs.String("e", "", "code to run instead of a file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var code string
	switch {
	case *expr != "" && fs.NArg() == 0:
		code = *expr
	case *expr == "" && fs.NArg() == 1:
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa exec:", err)
			return 1
		}
		code = string(b)
	default:
		fmt.Fprintln(os.Stderr, "usage: esa exec FILE.go | esa exec -e 'code'")
		return 2
	}
	s, err := newScriptSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa exec:", err)
		return 1
	}
	ctx, stop := interruptible()
	defer stop()
	// A file with a package clause and func main runs like `go run`.
	if strings.HasPrefix(strings.TrimSpace(stripComments(code)), "package ") {
		code = strings.Replace(code, "package main", "", 1) + "\nmain()"
	}
	r := s.Exec(ctx, code)
	if r.Err != nil {
		printCellError(r.Err)
		return 1
	}
	if *expr != "" && r.Data != nil {
		fmt.Println(r.Data["text/plain"])
	}
	return 0
}

// stripComments drops leading // comment lines (build tags, doc comments).
func stripComments(code string) string {
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "//") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return ""
}
