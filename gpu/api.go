package gpu

import (
	"context"

	"esa/stdlib/backend"
	"esa/stdlib/esa/rank"
	"esa/stdlib/tensor"
)

// Device is the CUDA backend: backend.Backend on one GPU, plus the ESA hot
// paths on device memory. New returns it in a cuda build; the default build
// has none.
type Device interface {
	backend.Backend
	backend.Host64

	// MemInfo returns the device's free and total memory in bytes (for
	// model.CheckMemory before a run starts).
	MemInfo() (free, total int64)
	// GEMM names the matrix-product implementation in use: the cuBLAS
	// library loaded (path and version) or the built-in kernel, and the
	// precision (ESA_GPU_GEMM: fp32, tf32 or bf16; the built-in kernel is
	// always fp32).
	GEMM() string

	// Select is rank.Select on the device: the scores of every tensor are
	// computed there (see Metric) and only the O(k) selected entries come
	// back. Sets, order and tie-breaking are rank.Select's.
	Select(ctx context.Context, src []ScoreTensor, opt rank.Options) (top, bottom *rank.Set, err error)
	// FlipBits flips bit bits[e] of element idx[e] of t for every e, in the
	// stored dtype, in the host bytes and the device copy alike (applying
	// the same list again restores both).
	FlipBits(t *tensor.Tensor, idx []int64, bits []int) error
	// Patch re-sends elements idx of t from the host bytes to the device
	// copy: after changing a few weights on the host, O(k) instead of the
	// whole tensor that Invalidate would re-upload.
	Patch(t *tensor.Tensor, idx []int64) error
	// DeviceChecksum is Checksum of the device copy of t (uploading it if
	// absent); equal to Checksum(t.Data) when the copy is bit-exact.
	DeviceChecksum(t *tensor.Tensor) (uint64, error)
	// Close frees the device memory this backend holds.
	Close() error
}
