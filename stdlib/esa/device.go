package esa

import (
	"fmt"
	"sync"

	"esa/gpu"
	"esa/stdlib/backend"
	"esa/stdlib/esa/choice"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
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

func init() {
	// Only a cuda build can count GPUs; the default build registers nothing,
	// so cuda stays a clear error there and auto stays the CPU.
	if gpu.Built {
		SetCUDAProbe(gpu.Devices)
	}
}

// openCUDA opens a CUDA device as a backend. A variable so that tests of the
// default build can stand in a device (one that keeps weight copies the way
// the GPU does) and exercise everything around it.
var openCUDA = gpu.New

// BackendInfo says what ran the model's passes when that was not the CPU.
type BackendInfo struct {
	Name string `json:"name"` // "cuda:0"
	// GEMM is the matrix-product implementation: the cuBLAS library loaded
	// (path and version) or the backend's built-in kernel.
	GEMM string `json:"gemm"`
	// MemoryFree and MemoryTotal are the device's memory in bytes when the
	// run opened it (before the weights were uploaded).
	MemoryFree  int64 `json:"memory_free_bytes"`
	MemoryTotal int64 `json:"memory_total_bytes"`
}

// deviceNeed is what a model must fit on a device: the longest sequence,
// the sequences in flight at once, and whether passes take gradients.
type deviceNeed struct {
	seqLen, batch int
	grad          bool
}

// openDevice opens d (cuda or cuda:N), refuses it when m does not fit its
// free memory for need, and only then makes m's float32 passes run on it.
// name is how messages call the model. The caller closes the device. A
// memory refusal is a *UsageError (nothing was done; a smaller batch,
// length or dtype, or another device, may fit); an unusable device is a
// plain error.
func openDevice(m *model.Model, name string, d Device, need deviceNeed) (gpu.Device, *BackendInfo, error) {
	dev, err := openCUDA(d.GPU())
	if err != nil {
		return nil, nil, fmt.Errorf("--device %s: %w", d, err)
	}
	free, total := dev.MemInfo()
	if err := checkDeviceMemory(dev, m, name, need, free); err != nil {
		dev.Close()
		return nil, nil, &UsageError{fmt.Errorf("--device %s (%s free of %s): %w", d, gigabytes(free), gigabytes(total), err)}
	}
	m.SetBackend(dev)
	return dev, &BackendInfo{Name: dev.Name(), GEMM: dev.GEMM(), MemoryFree: free, MemoryTotal: total}, nil
}

// checkDeviceMemory is model.CheckMemoryOn be for m's stored dtype, plus what it
// does not count on a device: EstimateMemory holds one float32 gradient of
// every parameter, but each sequence in flight holds its own on the device
// for the length of its backward (model.LossAndGrad hands the backend the
// worker's gradients), so batch sequences hold batch of them.
func checkDeviceMemory(be backend.Backend, m *model.Model, name string, need deviceNeed, available int64) error {
	dt := storedDType(m)
	if err := model.CheckMemoryOn(be, name, m.Config, dt, need.seqLen, need.batch, need.grad, available); err != nil {
		return err
	}
	if !need.grad || need.batch <= 1 {
		return nil
	}
	est, err := model.EstimateMemoryOn(be, m.Config, dt, need.seqLen, need.batch)
	if err != nil {
		return err
	}
	var params int64
	for _, t := range m.Params {
		params += int64(t.Len())
	}
	grad := 4 * params
	if total := est.GradPass + int64(need.batch-1)*grad; total > available {
		return fmt.Errorf("%s in %s needs ≈%s for gradient passes of %d sequences at once: each holds a float32 gradient of all %d parameters (%s) on the device; this device has %s (a smaller --batch-size needs less)",
			name, dt, gigabytes(total), need.batch, params, gigabytes(grad), gigabytes(available))
	}
	return nil
}

// storedDType is the dtype holding most of m's bytes (checkpoints keep
// norms in float32 next to bf16 matrices, say), the one memory is
// estimated in.
func storedDType(m *model.Model) tensor.DType {
	by := map[tensor.DType]int64{}
	best, bestBytes := tensor.F32, int64(-1)
	for _, t := range m.Params {
		by[t.DType] += t.Bytes()
		if b := by[t.DType]; b > bestBytes {
			best, bestBytes = t.DType, b
		}
	}
	return best
}

// needsGradients says whether the metric takes gradient passes.
func needsGradients(metric Metric) bool {
	switch metric {
	case Magnitude, ActMag:
		return false
	}
	return true
}

// gigabytes formats bytes as decimal gigabytes, as model.CheckMemory does.
func gigabytes(n int64) string { return fmt.Sprintf("%.1f GB", float64(n)/1e9) }
