package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"esa/internal/testmodels"
)

const knownText = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high"

func generateCmd(a []string, o, e *bytes.Buffer) int { return runGenerate(a, o, e) }

func TestGenerateCommand(t *testing.T) {
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		code, out, stderr := runCmd(t, generateCmd, "--model", testmodels.Path(t, rel), "-n", "60", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, code, stderr)
		}
		var r struct {
			Text   string `json:"text"`
			Tokens []int  `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Text != knownText || len(r.Tokens) != 60 {
			t.Errorf("%s: %q (%d tokens)", rel, r.Text, len(r.Tokens))
		}
	}
	code, out, _ := runCmd(t, generateCmd, "-m", testmodels.Path(t, "stories260K-hf"), "--prompt", "Once upon a time, there was a little girl named", "-n", "2")
	if code != 0 || !strings.HasPrefix(out, "Once upon a time, there was a little girl named Lily") {
		t.Errorf("prompt: exit %d %q", code, out)
	}
	if code, _, _ := runCmd(t, generateCmd, "-m", testmodels.Path(t, "stories260K-hf"), "-n", "-1"); code != 2 {
		t.Errorf("-n -1: exit %d", code)
	}
}
