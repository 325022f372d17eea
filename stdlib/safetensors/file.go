package safetensors

import (
	"fmt"
	"unsafe"

	"esa/stdlib/tensor"
)

// File is an opened safetensors file whose tensors alias its mapping.
type File struct {
	Path     string
	Metadata map[string]string
	// Tensors in file order. Their Data alias the file's copy-on-write
	// mapping (or a heap copy), so they are valid until Close.
	Tensors []*tensor.Tensor
	// Mapped reports whether the tensors live in a memory map.
	Mapped bool
	m      *Mapping
}

// Open maps and validates a safetensors file. Errors name the file, the
// tensor and the problem.
func Open(path string) (*File, error) {
	return open(path, true)
}

func open(path string, tryMmap bool) (*File, error) {
	m, err := mapFile(path, tryMmap)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %v", err)
	}
	f, err := fromBytes(path, m.Data)
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	f.Mapped = m.Mapped
	return f, nil
}

// fromBytes validates a whole file image and builds tensors aliasing it.
func fromBytes(path string, data []byte) (*File, error) {
	h, err := ParseHeader(data, int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %v", path, err)
	}
	f := &File{Path: path, Metadata: h.Metadata}
	for _, ti := range h.Tensors {
		b := data[h.DataStart+ti.Begin : h.DataStart+ti.End : h.DataStart+ti.End]
		// Float views need elements aligned to their size; the reference
		// writer aligns the data section to 8 bytes, but a file that does not
		// gets this tensor copied rather than read through a misaligned pointer.
		if len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%uintptr(ti.DType.Size()) != 0 {
			b = append([]byte(nil), b...)
		}
		f.Tensors = append(f.Tensors, &tensor.Tensor{Name: ti.Name, Shape: ti.Shape, DType: ti.DType, Data: b})
	}
	return f, nil
}

// Close unmaps the file; its tensors must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}
