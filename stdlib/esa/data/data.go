// Package data holds the built-in smoke set: short English texts written for
// this project (stories, descriptions, instructions, dialogues, simple facts
// in the simple vocabulary TinyStories-style models know). It is what a run
// uses without --data-file, and outputs label it as a smoke set: it checks that
// the pipeline works, it is not a benchmark of model quality.
package data

import (
	_ "embed"
	"strings"
)

//go:embed smoke.txt
var smoke string

// SmokeName labels the built-in set in outputs and manifests.
const SmokeName = "esa built-in smoke set v1 (texts written for the project; not a benchmark)"

// Smoke returns the built-in texts, one per non-empty line of smoke.txt, in
// file order (a fresh slice each call).
func Smoke() []string {
	var out []string
	for _, line := range strings.Split(smoke, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
