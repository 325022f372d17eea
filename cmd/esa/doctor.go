package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"esa/gpu"
	"esa/stdlib/esa"
	"esa/stdlib/esa/output"
)

func init() {
	register("doctor", "show what this build and machine offer: Go, CPU, memory, CUDA devices and libraries", func(args []string) int {
		return runDoctor(args, os.Stdout, os.Stderr)
	})
}

// runDoctor is `esa doctor`. In the default build it says that the binary
// is CPU only and how to build the GPU one; a cuda build lists the driver,
// each device, whether the kernels load, and which GEMM library was found.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esa doctor\n\nPrints the Go version, CPU, memory and CUDA facts of this build and machine.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "esa doctor: unexpected argument %q (it takes none)\n", fs.Arg(0))
		return 2
	}
	b, h := output.BuildInfo(), output.HardwareInfo()
	fmt.Fprintf(stdout, "esa:      %s (%s, %s/%s, commit %s)\n", Version, b.GoVersion, b.OS, b.Arch, b.GitCommit)
	cpu := h.CPUModel
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(stdout, "cpu:      %s, %d logical CPUs, GOMAXPROCS %d\n", cpu, h.LogicalCPUs, h.GOMAXPROCS)
	if h.MemoryBytes > 0 {
		fmt.Fprintf(stdout, "memory:   %.1f GB\n", float64(h.MemoryBytes)/1e9)
	}
	gpu.Describe(stdout)
	// What `esa runner --device auto` will use, by the same rule as a run.
	if d, err := esa.ResolveDevice(esa.Auto); err == nil {
		fmt.Fprintf(stdout, "runs:     --device auto runs on %s\n", d)
	}
	return 0
}
