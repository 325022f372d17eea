package esa

import (
	"fmt"
	"sync"

	"esa/stdlib/esa/choice"
)

var (
	cudaMu    sync.Mutex
	cudaProbe func() (int, error)
)

// SetCUDAProbe registers how to count CUDA devices. A CUDA backend built in
// (behind its build tag) calls it from init; without one, this binary has no
// GPU support and asking for cuda is an error.
func SetCUDAProbe(probe func() (devices int, err error)) {
	cudaMu.Lock()
	defer cudaMu.Unlock()
	cudaProbe = probe
}

// ResolveDevice turns a requested device into the one a run uses: auto is a
// GPU when the binary and machine have one, else the CPU; cuda and cuda:N are
// an error where there is no such GPU — never a silent fallback to the CPU.
func ResolveDevice(d Device) (Device, error) {
	if _, err := choice.ParseDevice(string(d)); err != nil {
		return "", err
	}
	cudaMu.Lock()
	probe := cudaProbe
	cudaMu.Unlock()
	n, why := 0, "this esa binary was built without CUDA support (CPU only)"
	if probe != nil {
		var err error
		n, err = probe()
		switch {
		case err != nil:
			n, why = 0, fmt.Sprintf("no usable CUDA device: %v", err)
		case n == 0:
			why = "no CUDA device found on this machine"
		}
	}
	switch {
	case d == Auto && n > 0:
		return CUDA, nil
	case d == Auto || d == CPU:
		return CPU, nil
	case d.GPU() >= n:
		if n > 0 {
			why = fmt.Sprintf("this machine has %d CUDA device(s) (cuda:0 … cuda:%d)", n, n-1)
		}
		return "", fmt.Errorf("--device %s: %s; use --device cpu or auto", d, why)
	}
	return d, nil
}
