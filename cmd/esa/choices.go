package main

import (
	"flag"
	"fmt"
	"os"

	"esa/stdlib/esa/choice"
)

func init() {
	register("choices", "print the valid ESA choices (metrics, modes, perturbations, …) with their meanings", func(args []string) int {
		fs := flag.NewFlagSet("choices", flag.ContinueOnError)
		md := fs.Bool("markdown", false, "print Markdown tables (for generated documentation)")
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), "usage: esa choices [--markdown]\n\nPrints the reference tables of every choice `esa runner` accepts, generated from the code.")
			fs.PrintDefaults()
		}
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return 0
			}
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(os.Stderr, "esa choices: unexpected argument %q\n", fs.Arg(0))
			return 2
		}
		write := choice.WriteText
		if *md {
			write = choice.WriteMarkdown
		}
		if err := write(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "esa choices:", err)
			return 1
		}
		return 0
	})
}
