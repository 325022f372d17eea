//go:build !cuda

package gpu

import (
	"errors"
	"fmt"
	"io"
)

// Built reports whether this binary has the CUDA backend.
const Built = false

// notBuilt is the answer of every device function in the default build.
const notBuilt = "this binary was built without CUDA support (build the GPU version with: go build -tags cuda ./cmd/esa)"

// Available says whether a CUDA device can be used, and if not, why.
func Available() (name string, ok bool, why string) { return "", false, notBuilt }

// Devices counts the CUDA devices.
func Devices() (int, error) { return 0, errors.New(notBuilt) }

// New opens CUDA device ordinal as a backend.
func New(ordinal int) (Device, error) { return nil, errors.New(notBuilt) }

// Describe writes what `esa doctor` shows about CUDA.
func Describe(w io.Writer) {
	fmt.Fprintln(w, "cuda:     not in this build (CPU only)")
	fmt.Fprintln(w, "          build the GPU version with: go build -tags cuda ./cmd/esa")
	fmt.Fprintln(w, "          (needs cuda.h: the CUDA toolkit, or scripts/install-cuda-headers.sh)")
}
