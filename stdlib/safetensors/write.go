package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"esa/stdlib/tensor"
)

// Write stores tensors, in the given order, and string metadata as a
// safetensors file. The file is written to a temporary name in the same
// folder and renamed into place, so readers never see a half-written file.
func Write(path string, tensors []*tensor.Tensor, metadata map[string]string) (err error) {
	header, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	w.Write(n[:])
	w.Write(header)
	for _, t := range tensors {
		w.Write(t.Data)
	}
	if err = w.Flush(); err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	// CreateTemp makes the file owner-only; a checkpoint is ordinary data.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors write %s: %v", path, err)
	}
	return nil
}

// encodeHeader writes the JSON header by hand so that entries keep the
// tensors' order (encoding/json would sort map keys), padded with spaces to a
// multiple of 8 bytes so every tensor's data stays 8-byte aligned.
func encodeHeader(tensors []*tensor.Tensor, metadata map[string]string) ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		md := make(map[string]string, len(metadata))
		for _, k := range keys {
			md[k] = metadata[k]
		}
		b, _ := json.Marshal(md)
		sb.WriteString(`"` + metadataKey + `":`)
		sb.Write(b)
		first = false
	}
	seen := map[string]bool{}
	var off int64
	for _, t := range tensors {
		if t == nil {
			return nil, fmt.Errorf("nil tensor")
		}
		if t.Name == "" || t.Name == metadataKey {
			return nil, fmt.Errorf("invalid tensor name %q", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if t.DType.Size() == 0 {
			return nil, fmt.Errorf("tensor %q: unknown dtype %v", t.Name, t.DType)
		}
		if want := t.Len() * t.DType.Size(); len(t.Data) != want {
			return nil, fmt.Errorf("tensor %q: %s shape %v needs %d bytes, has %d", t.Name, t.DType, t.Shape, want, len(t.Data))
		}
		if !first {
			sb.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(t.Name)
		sb.Write(name)
		sb.WriteString(`:{"dtype":"` + t.DType.String() + `","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(d))
		}
		end := off + int64(len(t.Data))
		sb.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + `,` + strconv.FormatInt(end, 10) + `]}`)
		off = end
	}
	sb.WriteByte('}')
	for (8+sb.Len())%8 != 0 {
		sb.WriteByte(' ')
	}
	return []byte(sb.String()), nil
}
