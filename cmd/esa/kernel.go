package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/traefik/yaegi/interp"

	"esa/kernel"
	"esa/kernel/engine"
	"esa/stdlib/symbols"
)

func init() {
	register("kernel", "run the Jupyter kernel (started by Jupyter with --connection-file)", runKernel)
	register("kernel-engine", "internal: the kernel's execution engine process", func([]string) int {
		if os.Getenv("ESA_ENGINE_CHILD") != "1" {
			fmt.Fprintln(os.Stderr, "esa kernel-engine is started by esa kernel, not by hand")
			return 2
		}
		return serveEngine()
	})
}

// serveEngine runs the engine child on the descriptors its parent set up.
func serveEngine() int {
	if err := engine.ServeChild([]interp.Exports{symbols.Exports()}); err != nil {
		fmt.Fprintln(os.Stderr, "esa kernel-engine:", err)
		return 1
	}
	return 0
}

func runKernel(args []string) int {
	fs := flag.NewFlagSet("kernel", flag.ContinueOnError)
	conn := fs.String("connection-file", "", "Jupyter connection file (required)")
	fs.StringVar(conn, "f", "", "shorthand for --connection-file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conn == "" && fs.NArg() == 1 {
		*conn = fs.Arg(0)
	}
	if *conn == "" {
		fmt.Fprintln(os.Stderr, "esa kernel: --connection-file is required")
		return 2
	}
	ci, err := kernel.ReadConnectionFile(*conn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa kernel:", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa kernel:", err)
		return 1
	}
	cfg := kernel.Config{Conn: ci, EngineArgv: []string{self, "kernel-engine"}, Version: Version}
	if err := kernel.Run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "esa kernel:", err)
		return 1
	}
	return 0
}
