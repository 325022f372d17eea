//go:build cuda

package gpu

import (
	"fmt"
	"io"

	"gorgonia.org/cu"
)

// Built reports whether this binary has the CUDA backend.
const Built = true

// Describe writes what `esa doctor` shows about CUDA: the driver, every
// device, and — by opening device 0 as a backend — whether the kernels
// JIT-compile and which GEMM is used.
func Describe(w io.Writer) {
	v := cu.Version()
	fmt.Fprintf(w, "cuda:     this build has the CUDA backend (gorgonia.org/cu, libcuda.so.1); driver supports CUDA %d.%d\n", v/1000, v%1000/10)
	n, err := cu.NumDevices()
	if err != nil {
		fmt.Fprintf(w, "devices:  error: %v\n", err)
		return
	}
	if n == 0 {
		fmt.Fprintln(w, "devices:  none found")
		return
	}
	for o := 0; o < n; o++ {
		d, err := cu.GetDevice(o)
		if err != nil {
			fmt.Fprintf(w, "cuda:%d:   error: %v\n", o, err)
			continue
		}
		name, _ := d.Name()
		major, minor, _ := d.ComputeCapability()
		sms, _ := d.Attribute(cu.MultiprocessorCount)
		total, _ := d.TotalMem()
		fmt.Fprintf(w, "cuda:%d:   %s, compute capability %d.%d, %d SMs, %.1f GB\n", o, name, major, minor, sms, float64(total)/1e9)
	}
	dev, err := New(0)
	if err != nil {
		fmt.Fprintf(w, "backend:  cuda:0 unusable: %v\n", err)
		return
	}
	defer dev.Close()
	free, total := dev.MemInfo()
	fmt.Fprintf(w, "backend:  cuda:0 ready: %d PTX kernels JIT-compiled; %.1f GB free of %.1f GB\n", numKernels, float64(free)/1e9, float64(total)/1e9)
	fmt.Fprintf(w, "GEMM:     %s\n", dev.GEMM())
}
