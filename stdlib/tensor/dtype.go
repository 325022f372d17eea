// Package tensor holds parameter tensors in their stored dtype (F32, BF16, F16)
// and the conversions between those dtypes and float32.
//
// Weights stay in the dtype the checkpoint stores them in, so memory is about
// the file size; computation reads them as float32. For F32 tensors the float32
// view aliases the stored bytes, so an in-place perturbation of the stored value
// is what the next forward pass sees.
package tensor

import (
	"fmt"
	"strings"
)

// DType is the element type a tensor is stored in.
type DType uint8

const (
	F32 DType = iota
	BF16
	F16
	F64
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case BF16, F16:
		return 2
	case F64:
		return 8
	}
	return 0
}

// String gives the safetensors spelling ("F32", "BF16", "F16", "F64").
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	case F64:
		return "F64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType accepts the safetensors names (F32, BF16, F16, F64) and the
// command-line names (fp32, bf16, fp16, float32, bfloat16, float16), any case.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "fp32", "float32", "float":
		return F32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "f16", "fp16", "float16", "half":
		return F16, nil
	case "f64", "fp64", "float64", "double":
		return F64, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (valid: fp32, bf16, fp16)", s)
}
