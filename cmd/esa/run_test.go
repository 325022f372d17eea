package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// captureStderr runs f with os.Stderr sent to a pipe and returns what f
// wrote there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	defer func() { os.Stderr = old }()
	f()
	w.Close()
	return <-done
}

func TestRunNotebookFailureExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	nb := filepath.Join(dir, "bad.ipynb")
	body := `{"cells":[
 {"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,"source":"x := 1"},
 {"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,"source":"panic(\"boom\")"},
 {"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,"source":"x"}],
 "metadata":{},"nbformat":4,"nbformat_minor":5}`
	if err := os.WriteFile(nb, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ipynb")
	var code int
	msg := captureStderr(t, func() { code = runNotebook([]string{nb, "-o", out}) })
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(msg, "cell 1 failed") || !strings.Contains(msg, "boom") {
		t.Fatalf("error not shown: %q", msg)
	}
	// The notebook is still written, with the error as the failing cell's output.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"output_type": "error"`) {
		t.Fatalf("no error output in %s", b)
	}
}

func TestRunNotebookParams(t *testing.T) {
	dir := t.TempDir()
	nb := filepath.Join(dir, "p.ipynb")
	body := `{"cells":[
 {"cell_type":"code","metadata":{"tags":["parameters"]},"outputs":[],"execution_count":null,"source":"n := 1\nname := \"a\""},
 {"cell_type":"code","metadata":{},"outputs":[],"execution_count":null,"source":"import \"fmt\"\nfmt.Sprint(name, n*2)"}],
 "metadata":{},"nbformat":4,"nbformat_minor":5}`
	if err := os.WriteFile(nb, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ipynb")
	if code := runNotebook([]string{nb, "--param", "n=21", "--param", "name=z", "-o", out}); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `\"z42\"`) {
		t.Fatalf("parameters not injected: %s", b)
	}
	if code := runNotebook([]string{nb, "--param", "novalue"}); code != 2 {
		t.Fatalf("bad --param: exit code %d, want 2", code)
	}
}
