package safetensors

import (
	"fmt"
	"io"
	"os"

	"github.com/edsrzf/mmap-go"
)

// Mapping holds a whole file's bytes: a private copy-on-write memory map when
// the platform allows it, else a heap copy. Either way writes into Data never
// reach the file, which is what lets perturbation experiments edit weights in
// place on a checkpoint the user still needs.
type Mapping struct {
	Data   []byte
	Mapped bool // true when Data is a memory map (pages shared with the page cache until written)
	m      mmap.MMap
}

// MapFile maps path copy-on-write, falling back to reading it into memory when
// mapping fails (empty files, file systems without mmap).
func MapFile(path string) (*Mapping, error) {
	return mapFile(path, true)
}

func mapFile(path string, tryMmap bool) (*Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	size := st.Size()
	if size > 0 && tryMmap && int64(int(size)) == size {
		if m, err := mmap.Map(f, mmap.COPY, 0); err == nil {
			return &Mapping{Data: []byte(m), Mapped: true, m: m}, nil
		}
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	return &Mapping{Data: buf}, nil
}

// Close releases the mapping. Any slice of Data (tensors that alias it) must
// not be used afterwards: for a memory map that would fault.
func (m *Mapping) Close() error {
	if m == nil {
		return nil
	}
	m.Data = nil
	if m.m != nil {
		err := m.m.Unmap()
		m.m = nil
		return err
	}
	return nil
}
