//go:build !cuda

package gpu

import (
	"bytes"
	"strings"
	"testing"
)

// TestDefaultBuildHasNoCUDA: the default build answers every device
// question with how to get a GPU build.
func TestDefaultBuildHasNoCUDA(t *testing.T) {
	if Built {
		t.Fatal("Built in a build without the cuda tag")
	}
	if _, ok, why := Available(); ok || !strings.Contains(why, "go build -tags cuda ./cmd/esa") {
		t.Fatalf("Available() = ok %v, %q", ok, why)
	}
	if _, err := New(0); err == nil || !strings.Contains(err.Error(), "without CUDA support") {
		t.Fatalf("New(0) error = %v", err)
	}
	if _, err := Devices(); err == nil {
		t.Fatal("Devices() without error")
	}
	var b bytes.Buffer
	Describe(&b)
	if !strings.Contains(b.String(), "CPU only") {
		t.Fatalf("Describe: %q", b.String())
	}
}
