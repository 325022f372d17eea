package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/builtin"
)

// run calls a command in-process and returns its exit code and output.
func runCmd(t *testing.T, f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := f(args, &out, &errb)
	return code, out.String(), errb.String()
}

func infoCmd(a []string, o, e *bytes.Buffer) int { return runInfo(a, o, e) }

func TestInfoJSON(t *testing.T) {
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		code, out, stderr := runCmd(t, infoCmd, "--model", testmodels.Path(t, rel), "--json", "--tensors")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, code, stderr)
		}
		var r struct {
			Architecture  string   `json:"architecture"`
			Parameters    int64    `json:"parameters"`
			ScoredWeights int64    `json:"scored_weights"`
			DTypes        []string `json:"dtypes"`
			Bytes         int64    `json:"bytes"`
			Tensors       []struct {
				Name  string `json:"name"`
				Shape []int  `json:"shape"`
			} `json:"tensors"`
			Tokenizer *struct {
				Vocab int `json:"vocab"`
			} `json:"tokenizer"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v\n%s", rel, err, out)
		}
		if r.Architecture != "llama" || r.Parameters != 260032 || r.ScoredWeights != 259328 || r.Bytes != 1040128 ||
			len(r.DTypes) != 1 || r.DTypes[0] != "F32" || len(r.Tensors) != 47 || r.Tokenizer == nil || r.Tokenizer.Vocab != 512 {
			t.Errorf("%s: arch %s params %d scored %d bytes %d dtypes %v tensors %d tokenizer %v", rel, r.Architecture, r.Parameters, r.ScoredWeights, r.Bytes, r.DTypes, len(r.Tensors), r.Tokenizer)
		}
	}
}

func TestInfoText(t *testing.T) {
	code, out, _ := runCmd(t, infoCmd, "-m", testmodels.Path(t, "stories260K/stories260K.bin"), "--tensors")
	for _, want := range []string{"260,032", "259,328", "interleaved RoPE", "model.layers.4.mlp.down_proj.weight", "[64 172]"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

func TestInfoConfig(t *testing.T) {
	cfg := filepath.Join(testmodels.RepoRoot(), "stdlib", "model", "testdata", "configs", "Llama-3.1-8B.json")
	code, out, stderr := runCmd(t, infoCmd, "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Parameters    int64 `json:"parameters"`
		ScoredWeights int64 `json:"scored_weights"`
		Memory        struct {
			Weights int64 `json:"weights"`
		} `json:"memory"`
	}
	json.Unmarshal([]byte(out), &r)
	if r.Parameters != 8_030_261_248 || r.ScoredWeights != 8_029_995_008 || r.Memory.Weights != 2*8_030_261_248 {
		t.Errorf("%s", out)
	}
}

// With no model named, info describes the built-in model: the same model
// --config on its embedded config.json describes.
func TestInfoBuiltin(t *testing.T) {
	dir, err := builtin.Dir()
	if err != nil {
		t.Fatal(err)
	}
	var got, want struct {
		Parameters int64 `json:"parameters"`
	}
	code, out, stderr := runCmd(t, infoCmd, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCmd(t, infoCmd, "--json", "--config", filepath.Join(dir, "config.json"))
	if code != 0 || json.Unmarshal([]byte(out), &want) != nil {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if got.Parameters == 0 || got.Parameters != want.Parameters {
		t.Fatalf("built-in model: %d parameters from its weights, %d from its config", got.Parameters, want.Parameters)
	}
}

func TestInfoUsage(t *testing.T) {
	for _, args := range [][]string{{"--model", "a", "--config", "b"}, {"--bogus"}, {"-m", "x", "stray"}} {
		if code, _, _ := runCmd(t, infoCmd, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, _, stderr := runCmd(t, infoCmd, "-m", filepath.Join(t.TempDir(), "none.bin"))
	if code != 1 || !strings.Contains(stderr, "none.bin") {
		t.Errorf("missing model: exit %d %s", code, stderr)
	}
	code, _, stderr = runCmd(t, infoCmd, "-m", testmodels.Path(t, "stories260K-hf"), "--dtype", "int4")
	if code != 1 || !strings.Contains(stderr, "fp32, bf16, fp16") {
		t.Errorf("bad dtype: exit %d %s", code, stderr)
	}
}
