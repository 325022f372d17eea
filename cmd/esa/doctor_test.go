package main

import (
	"bytes"
	"strings"
	"testing"

	"esa/gpu"
)

func TestDoctor(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runDoctor(nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"esa:", "cpu:", "cuda:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	if !gpu.Built && !strings.Contains(out.String(), "go build -tags cuda ./cmd/esa") {
		t.Errorf("a CPU-only build must say how to build the GPU one:\n%s", out.String())
	}
	if code := runDoctor([]string{"extra"}, &out, &errb); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
}
