package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"esa/gpu"
	"esa/internal/testmodels"
	"esa/stdlib/esa"
)

// runbookLines reads the runbook invocations (a copy of
// ../shared/runbooks/commands.txt kept in testdata so CI has it) with the
// leading "esa runner" removed, {model} and {out} filled in.
func runbookLines(t *testing.T, model, out string) [][]string {
	t.Helper()
	f, err := os.Open("testdata/runbook_commands.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "esa runner ")
		if !ok {
			t.Fatalf("runbook line is not an esa runner call: %s", line)
		}
		rest = strings.ReplaceAll(rest, "{model}", model)
		rest = strings.ReplaceAll(rest, "{out}", out)
		lines = append(lines, strings.Fields(rest))
	}
	if len(lines) < 20 {
		t.Fatalf("only %d runbook lines", len(lines))
	}
	return lines
}

// TestRunbookCopyIsCurrent: the testdata copy must equal the shared runbook
// list where that exists, so the parse test cannot drift from it.
func TestRunbookCopyIsCurrent(t *testing.T) {
	shared := filepath.Join(testmodels.RepoRoot(), "..", "shared", "runbooks", "commands.txt")
	want, err := os.ReadFile(shared)
	if err != nil {
		t.Skipf("shared runbooks not present: %v", err)
	}
	got, _ := os.ReadFile("testdata/runbook_commands.txt")
	if string(got) != string(want) {
		t.Fatal("testdata/runbook_commands.txt differs from ../shared/runbooks/commands.txt; copy it again")
	}
}

func TestEveryRunbookLineParses(t *testing.T) {
	for _, args := range runbookLines(t, "/models/stories260K", "/tmp/out") {
		cfg, err := parseRunner(args, io.Discard)
		if err != nil {
			t.Errorf("%s:\n%v", strings.Join(args, " "), err)
			continue
		}
		if cfg.Model != "/models/stories260K" {
			t.Errorf("model %q", cfg.Model)
		}
		// Every given value must land in the config.
		for i, a := range args {
			switch a {
			case "--perturb":
				if string(cfg.Perturb) != args[i+1] {
					t.Errorf("perturb %q, want %q", cfg.Perturb, args[i+1])
				}
			case "--controls":
				if len(cfg.Controls) != 2 || cfg.Controls[0] != esa.RandomK || cfg.Controls[1] != esa.BottomK {
					t.Errorf("controls %v", cfg.Controls)
				}
			case "--perturb-prob":
				if cfg.PerturbProb != 0.05 {
					t.Errorf("perturb-prob %v", cfg.PerturbProb)
				}
			case "--seeds":
				if formatSeeds(cfg.Seeds) != args[i+1] {
					t.Errorf("seeds %v, want %s", cfg.Seeds, args[i+1])
				}
			case "--stability-check":
				if !cfg.StabilityCheck {
					t.Error("stability-check not set")
				}
			case "--dtype":
				if cfg.DType != esa.BF16 {
					t.Errorf("dtype %q", cfg.DType)
				}
			case "--out-dir":
				if cfg.OutDir != "/tmp/out" {
					t.Errorf("out-dir %q", cfg.OutDir)
				}
			case "--device":
				if string(cfg.Device) != args[i+1] {
					t.Errorf("device %q", cfg.Device)
				}
			}
		}
	}
}

// TestCUDAIsAClearErrorHere: the runbook lines with --device cuda parse, but
// this binary has no CUDA backend, so resolving the device fails with a
// message saying so (the runner exits 2) instead of falling back to the CPU.
func TestCUDAIsAClearErrorHere(t *testing.T) {
	if gpu.Built {
		t.Skip("a cuda build registers a CUDA probe")
	}
	if _, err := esa.ResolveDevice(esa.CUDA); err == nil || !strings.Contains(err.Error(), "without CUDA support") {
		t.Fatalf("cuda resolved: %v", err)
	}
	if d, err := esa.ResolveDevice(esa.Auto); err != nil || d != esa.CPU {
		t.Fatalf("auto → %q, %v", d, err)
	}
}

// TestDoctorSaysWhereAutoRuns: esa doctor names the device --device auto
// resolves to, by the runner's own rule (the CPU in the default build).
func TestDoctorSaysWhereAutoRuns(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runDoctor(nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	d, err := esa.ResolveDevice(esa.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if want := "--device auto runs on " + string(d) + "\n"; !strings.Contains(out.String(), want) {
		t.Errorf("doctor output lacks %q:\n%s", want, out.String())
	}
	if !gpu.Built && d != esa.CPU {
		t.Errorf("default build: auto resolves to %s", d)
	}
}

func TestRunnerUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--model", "m", "--metric", "activation_magnitude"}, []string{"did you mean act_mag?", "valid: grad_x_weight, grad_squared, hessian_diag, hutchinson_diag, magnitude, act_mag"}},
		{[]string{"--model", "m", "--perturb", "gaussian"}, []string{"did you mean gauss_noise?", "valid: zero, sign_flip, gauss_noise, bit_flip"}},
		{[]string{"--model", "m", "--mode", "layer"}, []string{"did you mean per_layer?"}},
		{[]string{"--model", "m", "--perturb", "zero", "--controls", "random,top"}, []string{"valid: random_k, bottom_k"}},
		{[]string{"--model", "m", "--dtype", "float16"}, []string{"did you mean fp16?"}},
		{[]string{"--model", "m", "--device", "gpu"}, []string{"did you mean cuda?"}},
		{[]string{"--metric", "magnitude"}, []string{"--model is required"}},
		{[]string{"-m", "m", "--controls", "random_k"}, []string{"needs --perturb"}},
		{[]string{"-m", "m", "--perturb", "zero", "--perturb-scale", "2"}, []string{"--perturb-scale applies only to"}},
		{[]string{"-m", "m", "--perturb", "sign_flip", "--perturb-prob", "0.1"}, []string{"--perturb-prob applies only to --perturb bit_flip"}},
		{[]string{"-m", "m", "--perturb", "bit_flip", "--perturb-prob", "1.5"}, []string{"--perturb-prob must be in [0, 1]"}},
		{[]string{"-m", "m", "--stability-check"}, []string{"needs at least two"}},
		{[]string{"-m", "m", "--seeds", "1,1"}, []string{"repeats 1"}},
		{[]string{"-m", "m", "--seeds", "1,x"}, []string{`seed "x"`}},
		{[]string{"-m", "m", "--topk", "0"}, []string{"--topk must be positive"}},
		{[]string{"-m", "m", "--probes", "5"}, []string{"--probes applies only to --metric hutchinson_diag"}},
		{[]string{"-m", "m", "--data-file", "/nonexistent/texts.txt"}, []string{"--data-file", "no such file"}},
		{[]string{"-m", "m", "stray"}, []string{`unexpected argument "stray"`}},
		{[]string{"-m", "m", "--no-such-flag"}, []string{"no-such-flag"}},
	}
	for _, c := range cases {
		_, err := parseRunner(c.args, io.Discard)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%v: error %v is not a usage error", c.args, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q lacks %q", c.args, err, w)
			}
		}
	}
	// Shorthands and aliases.
	cfg, err := parseRunner([]string{"-m", "x", "-v", "--perturb", "zero", "--controls", "bottom,random"}, io.Discard)
	if err != nil || cfg.Model != "x" || !cfg.Verbose || cfg.Controls[0] != esa.BottomK || cfg.Controls[1] != esa.RandomK {
		t.Errorf("shorthands: %+v, %v", cfg, err)
	}
}

// TestEveryRunbookLineRuns runs every runbook line end to end on
// stories260K — alternately the Hugging Face folder and the llama2.c .bin —
// with two changes the issue allows: --device cuda becomes --device cpu
// (this binary has no CUDA; that the cuda lines parse and then fail with a
// clear error is TestCUDAIsAClearErrorHere), and --max-samples is set to 3
// (added where the line has none) to keep CI fast. Lines without --out-dir
// run in a temporary working folder, so their default
// outputs/{model}_{metric}_{mode}_k{k}[_{perturb}]_{timestamp} folder lands
// there and is checked too.
func TestEveryRunbookLineRuns(t *testing.T) {
	models := []string{testmodels.Path(t, "stories260K-hf"), testmodels.Path(t, "stories260K/stories260K.bin")}
	lines := runbookLines(t, models[0], "@OUT@")
	work := t.TempDir()
	t.Chdir(work)
	for i, args := range lines {
		model := models[i%2]
		out := filepath.Join(work, "run", strconv.Itoa(i))
		hasSamples := false
		for j := range args {
			switch args[j] {
			case "--device":
				if args[j+1] == "cuda" {
					args[j+1] = "cpu"
				}
			case "--max-samples":
				args[j+1] = "3"
				hasSamples = true
			case "--model":
				args[j+1] = model
			case "--out-dir":
				args[j+1] = out
			}
		}
		if !hasSamples {
			args = append(args, "--max-samples", "3")
		}
		var stdout, stderr strings.Builder
		if code := runRunner(args, &stdout, &stderr); code != 0 {
			t.Errorf("line %d exited %d: %s\n%s", i+1, code, strings.Join(args, " "), stderr.String())
			continue
		}
		dir := out
		if !slices.Contains(args, "--out-dir") {
			matches, _ := filepath.Glob(filepath.Join(work, "outputs", "*"))
			if len(matches) != 1 {
				t.Fatalf("line %d: default output folders %v", i+1, matches)
			}
			dir = matches[0]
			cfg, _ := parseRunner(args, io.Discard)
			want := filepath.Base(esa.DefaultOutDir(cfg, time.Now()))
			want = want[:len(want)-len("20060102-150405")] // model_metric_mode_kK[_perturb]_
			if !strings.HasPrefix(filepath.Base(dir), want) {
				t.Errorf("line %d: default folder %s, want %s{timestamp}", i+1, filepath.Base(dir), want)
			}
			// Move it aside so the next line's default folder is found alone.
			if err := os.Rename(dir, filepath.Join(work, "default-"+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
			dir = filepath.Join(work, "default-"+strconv.Itoa(i))
		}
		checkOutputs(t, i+1, dir, slices.Contains(args, "--save-plots"), slices.Contains(args, "--perturb"))
	}
}

// checkOutputs: every documented file exists and parses; plots exist when asked.
func checkOutputs(t *testing.T, line int, dir string, plots, perturbed bool) {
	t.Helper()
	for _, f := range esa.OutputFiles() {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("line %d: %v", line, err)
			continue
		}
		if strings.HasSuffix(f, ".json") {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("line %d: %s is not JSON: %v", line, f, err)
			}
			if f == "perturbation_results.json" && perturbed != (v["status"] == "done") {
				t.Errorf("line %d: perturbation status %v", line, v["status"])
			}
		}
	}
	if plots {
		pngs, _ := filepath.Glob(filepath.Join(dir, "plots", "*.png"))
		if len(pngs) < 3 {
			t.Errorf("line %d: --save-plots wrote %d PNGs", line, len(pngs))
		}
	}
}

func TestRunnerExitCodes(t *testing.T) {
	var stderr strings.Builder
	if code := runRunner([]string{"-m", "x", "--metric", "activation_magnitude"}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "did you mean act_mag?") || !strings.Contains(stderr.String(), "valid: grad_x_weight") {
		t.Errorf("invalid metric: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := runRunner([]string{"-m", "x", "--device", "cuda"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "CUDA") {
		t.Errorf("cuda: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := runRunner([]string{"-m", filepath.Join(t.TempDir(), "missing-model"), "--out-dir", t.TempDir()}, io.Discard, &stderr); code != 1 {
		t.Errorf("missing model: exit %d, %s", code, stderr.String())
	}
	if code := runRunner([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
