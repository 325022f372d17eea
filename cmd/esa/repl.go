package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"esa/kernel/session"
)

func init() {
	register("repl", "interactive Go prompt with the esa library", runRepl)
}

func runRepl(args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(os.Stderr, "usage: esa repl")
		return 2
	}
	s, err := newScriptSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa repl:", err)
		return 1
	}
	os.Stdout.WriteString(replBanner + "\n")
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	var buf strings.Builder
	for {
		if buf.Len() == 0 {
			fmt.Print("go> ")
		} else {
			fmt.Print("... ")
		}
		if !in.Scan() {
			fmt.Println()
			return 0
		}
		buf.WriteString(in.Text())
		buf.WriteString("\n")
		code := buf.String()
		if st, _ := session.IsComplete(code); st == "incomplete" {
			continue
		}
		buf.Reset()
		if strings.TrimSpace(code) == "" {
			continue
		}
		ctx, stop := interruptible()
		r := s.Exec(ctx, code)
		stop()
		switch {
		case r.Err != nil:
			printCellError(r.Err)
		case r.Page != "":
			fmt.Println(r.Page)
		case r.Data != nil:
			fmt.Println(r.Data["text/plain"])
		}
	}
}

// replBanner is a constant so vet does not read the magics as format verbs.
const replBanner = "esa repl — Go on yaegi. Magics: %reset %time %env %doc. Ctrl-C interrupts, Ctrl-D exits."
