package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/safetensors"
)

func evalCmd(a []string, o, e *bytes.Buffer) int { return runEval(a, o, e) }

func TestEvalJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "texts.jsonl")
	os.WriteFile(file, []byte("{\"text\": \"Once upon a time, there was a little girl named Lily.\"}\n{\"text\": \"Tom had a big dog. The dog liked to run.\"}\n{\"text\": \"Ben saw a bird.\"}\n"), 0o644)
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		code, out, stderr := runCmd(t, evalCmd, "--model", testmodels.Path(t, rel), "--data-file", file, "--max-samples", "2", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, code, stderr)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"perplexity", "token_accuracy", "n_texts", "n_tokens", "mean_nll"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s: JSON lacks %q", rel, k)
			}
		}
		ppl, _ := r["perplexity"].(float64)
		if r["n_texts"] != 2.0 || math.IsNaN(ppl) || math.IsInf(ppl, 0) || ppl < 1 || ppl > 512 {
			t.Errorf("%s: %s", rel, out)
		}
	}
	code, out, _ := runCmd(t, evalCmd, "-m", testmodels.Path(t, "stories260K-hf"), "--data-file", file, "--max-length", "8", "--stride", "4")
	if code != 0 || !strings.Contains(out, "perplexity") || !strings.Contains(out, "sliding windows, stride 4") {
		t.Errorf("text output:\n%s", out)
	}
}

func TestEvalErrors(t *testing.T) {
	model := testmodels.Path(t, "stories260K-hf")
	missing := filepath.Join(t.TempDir(), "missing.txt")
	code, _, stderr := runCmd(t, evalCmd, "-m", model, "--data-file", missing)
	if code != 1 || !strings.Contains(stderr, "missing.txt") {
		t.Errorf("missing data file: exit %d %s", code, stderr)
	}
	if code, _, _ := runCmd(t, evalCmd, "-m", model); code != 2 {
		t.Errorf("no --data-file: exit %d", code)
	}
	file := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(file, []byte("Lily ran.\n"), 0o644)
	code, _, stderr = runCmd(t, evalCmd, "-m", model, "--data-file", file, "--max-length", "9999")
	if code != 1 || !strings.Contains(stderr, "max_position_embeddings 512") {
		t.Errorf("too long: exit %d %s", code, stderr)
	}
	// A .bin without a tokenizer beside it needs --tokenizer.
	dir := t.TempDir()
	b, _ := os.ReadFile(testmodels.Path(t, "stories260K/stories260K.bin"))
	os.WriteFile(filepath.Join(dir, "m.bin"), b, 0o644)
	code, _, stderr = runCmd(t, evalCmd, "-m", filepath.Join(dir, "m.bin"), "--data-file", file)
	if code != 1 || !strings.Contains(stderr, "--tokenizer") {
		t.Errorf("no tokenizer: exit %d %s", code, stderr)
	}
	code, _, stderr = runCmd(t, evalCmd, "-m", filepath.Join(dir, "m.bin"), "--data-file", file, "--tokenizer", testmodels.Path(t, "stories260K/tok512.bin"))
	if code != 0 {
		t.Errorf("with --tokenizer: exit %d %s", code, stderr)
	}
}

func TestEvalInfiniteJSON(t *testing.T) {
	dir := t.TempDir()
	src := testmodels.Path(t, "stories260K-hf")
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	st, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, x := range st.Tensors {
		if x.Name == "model.norm.weight" {
			x.Set(0, math.Inf(1)) // copy-on-write: the shared file is untouched
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), st.Tensors, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "t.txt")
	os.WriteFile(file, []byte("Lily ran home.\n"), 0o644)
	code, out, stderr := runCmd(t, evalCmd, "-m", dir, "--data-file", file, "--json")
	if code != 0 || !strings.Contains(out, `"perplexity": "inf"`) {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
}
