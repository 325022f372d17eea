// Command esa is the Jupyter kernel, notebook runner, script runner and
// command-line front end of the esa library. Each subcommand lives in its own
// file and registers itself in init.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type command struct {
	name    string
	summary string
	run     func(args []string) int // returns the exit code: 0 ok, 1 failure, 2 usage
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("esa: duplicate command " + name)
	}
	commands[name] = command{name, summary, run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: esa <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'esa <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "esa: unknown command %q (valid: %s)\n", os.Args[1], strings.Join(names, ", "))
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}
