//go:build ignore

// Writes the held-out stories the notebooks evaluate on by default: 200
// stories of the built-in model's grammar drawn with seed 1001, the same
// held-out set `esa train --seed 1` reports (train.go uses seed+1000), so
// the notebooks measure the built-in model on text like its training text
// but never trained on. Regenerate from the repository root with:
//
//	go run notebooks/data/gen_stories.go > notebooks/data/stories-heldout.txt
package main

import (
	"bufio"
	"fmt"
	"os"

	"esa/stdlib/corpus"
)

func main() {
	w := bufio.NewWriter(os.Stdout)
	for _, s := range corpus.Stories(1001, 200) {
		fmt.Fprintln(w, s)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
