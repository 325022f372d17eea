package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Tensor is one named parameter in its stored dtype. Data holds the
// little-endian stored bytes and may alias a memory-mapped file (mapped
// copy-on-write, so in-place edits never reach the file).
type Tensor struct {
	Name  string
	Shape []int
	DType DType
	Data  []byte
}

// New allocates a zeroed tensor.
func New(name string, dt DType, shape ...int) *Tensor {
	t := &Tensor{Name: name, Shape: append([]int(nil), shape...), DType: dt}
	t.Data = make([]byte, t.Len()*dt.Size())
	return t
}

// FromF32 makes an F32 tensor holding a copy of v.
func FromF32(name string, v []float32, shape ...int) *Tensor {
	t := New(name, F32, shape...)
	if t.Len() != len(v) {
		panic(fmt.Sprintf("tensor.FromF32 %s: %d values for shape %v", name, len(v), shape))
	}
	copy(t.F32(), v)
	return t
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows and Cols view a rank-2 tensor (Rows is the product of all leading dims).
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Len() / t.Shape[len(t.Shape)-1]
}

// Cols is the last dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Bytes is the stored size.
func (t *Tensor) Bytes() int64 { return int64(len(t.Data)) }

// F32 returns the tensor as float32. For F32 storage the slice aliases Data
// (writes change the tensor); for other dtypes it panics — use Float32 or
// ReadF32 for a converted copy.
func (t *Tensor) F32() []float32 {
	if t.DType != F32 {
		panic(fmt.Sprintf("tensor %s: F32 view of a %s tensor", t.Name, t.DType))
	}
	if len(t.Data) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), len(t.Data)/4)
}

// Float32 returns the values as float32: the aliasing view for F32 storage,
// a converted copy otherwise.
func (t *Tensor) Float32() []float32 {
	if t.DType == F32 {
		return t.F32()
	}
	dst := make([]float32, t.Len())
	t.ReadF32(0, dst)
	return dst
}

// ReadF32 converts elements [off, off+len(dst)) into dst.
func (t *Tensor) ReadF32(off int, dst []float32) {
	switch t.DType {
	case F32:
		copy(dst, t.F32()[off:off+len(dst)])
	case BF16:
		b := t.Data[2*off:]
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F16:
		b := t.Data[2*off:]
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F64:
		b := t.Data[8*off:]
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		panic("tensor: unknown dtype")
	}
}

// At reads element i as float64 (exact for every stored dtype).
func (t *Tensor) At(i int) float64 {
	switch t.DType {
	case F32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
	case BF16:
		return float64(BF16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:])))
	case F16:
		return float64(F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:])))
	case F64:
		return math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	panic("tensor: unknown dtype")
}

// Set stores v at element i, rounding to the stored dtype.
func (t *Tensor) Set(i int, v float64) {
	switch t.DType {
	case F32:
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(float32(v)))
	case BF16:
		binary.LittleEndian.PutUint16(t.Data[2*i:], F32ToBF16(float32(v)))
	case F16:
		binary.LittleEndian.PutUint16(t.Data[2*i:], F32ToF16(float32(v)))
	case F64:
		binary.LittleEndian.PutUint64(t.Data[8*i:], math.Float64bits(v))
	default:
		panic("tensor: unknown dtype")
	}
}

// Bits reads the stored bit pattern of element i (zero-extended).
func (t *Tensor) Bits(i int) uint64 {
	switch t.DType.Size() {
	case 2:
		return uint64(binary.LittleEndian.Uint16(t.Data[2*i:]))
	case 4:
		return uint64(binary.LittleEndian.Uint32(t.Data[4*i:]))
	case 8:
		return binary.LittleEndian.Uint64(t.Data[8*i:])
	}
	panic("tensor: unknown dtype")
}

// SetBits writes a stored bit pattern to element i.
func (t *Tensor) SetBits(i int, b uint64) {
	switch t.DType.Size() {
	case 2:
		binary.LittleEndian.PutUint16(t.Data[2*i:], uint16(b))
	case 4:
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(b))
	case 8:
		binary.LittleEndian.PutUint64(t.Data[8*i:], b)
	default:
		panic("tensor: unknown dtype")
	}
}

// Convert returns a copy of t stored as dt (rounding to nearest even).
func (t *Tensor) Convert(dt DType) *Tensor {
	out := New(t.Name, dt, t.Shape...)
	if dt == t.DType {
		copy(out.Data, t.Data)
		return out
	}
	n := t.Len()
	buf := make([]float32, min(n, 1<<16))
	for off := 0; off < n; off += len(buf) {
		chunk := buf[:min(len(buf), n-off)]
		t.ReadF32(off, chunk)
		for i, v := range chunk {
			out.Set(off+i, float64(v))
		}
	}
	return out
}
