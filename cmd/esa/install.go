package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"esa/install"
)

func init() {
	register("install", "install (or --uninstall) the esa Jupyter kernelspec", runInstall)
}

func runInstall(args []string) int {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	user := fs.Bool("user", false, "install for the current user (the default)")
	prefix := fs.String("prefix", "", "install under PREFIX/share/jupyter/kernels")
	sysPrefix := fs.Bool("sys-prefix", false, "install under the prefix of python3 on PATH (a virtualenv or conda env)")
	name := fs.String("name", "esa", "kernel name")
	display := fs.String("display-name", "Go (esa)", "name shown in Jupyter")
	uninstall := fs.Bool("uninstall", false, "remove the kernelspec instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n := 0
	for _, b := range []bool{*user, *prefix != "", *sysPrefix} {
		if b {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintln(os.Stderr, "esa install: choose one of --user, --prefix, --sys-prefix")
		return 2
	}
	var dataDir string
	switch {
	case *prefix != "":
		dataDir = install.PrefixDataDir(*prefix)
	case *sysPrefix:
		out, err := exec.Command("python3", "-c", "import sys; print(sys.prefix)").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa install: --sys-prefix needs python3 on PATH:", err)
			return 1
		}
		dataDir = install.PrefixDataDir(strings.TrimSpace(string(out)))
	default:
		d, err := install.UserDataDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa install:", err)
			return 1
		}
		dataDir = d
	}
	if *uninstall {
		ok, err := install.Remove(dataDir, *name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "esa install:", err)
			return 1
		}
		if !ok {
			fmt.Fprintf(os.Stderr, "esa install: no kernelspec %q under %s\n", *name, dataDir)
			return 1
		}
		fmt.Printf("removed kernelspec %s from %s\n", *name, dataDir)
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa install:", err)
		return 1
	}
	spec, err := install.NewSpec(exe, *display)
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa install:", err)
		return 1
	}
	dir, err := install.Write(dataDir, *name, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa install:", err)
		return 1
	}
	fmt.Printf("installed kernelspec %s in %s\n", *name, dir)
	return 0
}
