// Package gpu is the CUDA backend of the model engine: backend.Backend on an
// NVIDIA GPU, plus the ESA hot paths on device memory (device-side top-k
// selection over every score, bit flips and patches of the stored weights,
// checksums of the device copies).
//
// # Builds
//
// The default build has no CUDA code: New and Available report that the
// binary was built without CUDA support, and nothing here needs cgo. The GPU
// build is `go build -tags cuda ./cmd/esa`. It links only the CUDA driver
// library (libcuda.so.1) through gorgonia.org/cu, and needs the driver API
// header cuda.h at build time (scripts/install-cuda-headers.sh fetches it
// and a link-time stub libcuda.so on machines without the CUDA toolkit).
// cuBLAS is not linked: it is loaded at run time (dlopen) by searching the
// sonames libcublas.so.13, .12 and .11, and when none is found the GEMMs run
// on the package's own kernel, so one GPU build works across CUDA toolkit
// versions. gorgonia.org/cu initialises the driver in its package init and
// exits the process when that fails: a cuda build does not start on a
// machine without a GPU and driver — use the default build there.
//
// # Kernels
//
// The kernels are CUDA C in kernels/*.cu, compiled to PTX by clang without
// the CUDA SDK (kernels/gen.sh) and committed; the PTX is embedded and the
// driver JIT-compiles it for the GPU at hand when the backend starts.
//
// # Precision
//
// Weights live on the device in their stored dtype (F32, BF16, F16 or F64),
// uploaded on first use and dropped by Invalidate. Activations, gradients
// and all arithmetic outside the GEMMs are float32. The GEMMs' precision is
// chosen with ESA_GPU_GEMM when New opens the device:
//
//   - fp32 (the default): float32 operands and arithmetic (cublasSgemm;
//     non-F32 weights widened per use), so results match the float32 CPU
//     backend to rounding;
//   - tf32: the same float32 operands multiplied on TF32 tensor cores
//     (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32): 10-bit mantissa inputs,
//     float32 accumulation;
//   - bf16: the GEMMs of BF16-stored weights use the stored weight as it is
//     and the float32 activations rounded to bf16 (both operands of the
//     weight gradient), accumulating in float32 (cublasGemmEx,
//     CUBLAS_COMPUTE_32F); GEMMs of F32, F16 and F64 weights run as in tf32.
//
// The built-in GEMM kernel (no cuBLAS) is fp32 whatever the mode. GEMM()
// says which is in use.
package gpu
