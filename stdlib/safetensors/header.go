// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header describing every tensor, then the
// raw little-endian tensor bytes. Reading validates everything the header
// claims against the file before any tensor is used, so a corrupt or
// malicious file gives an error naming the file, the tensor and the problem
// instead of a panic or silently wrong weights.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"esa/stdlib/tensor"
)

// MaxHeaderSize bounds the JSON header (the reference implementation uses the
// same 100 MB limit); larger claims are corruption, not real checkpoints.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header entry holding string metadata.
const metadataKey = "__metadata__"

// TensorInfo is one header entry, validated.
type TensorInfo struct {
	Name  string
	DType tensor.DType
	Shape []int
	// Begin and End are byte offsets relative to the start of the data section.
	Begin, End int64
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// Tensors in file order (ascending data offset).
	Tensors  []TensorInfo
	Metadata map[string]string
	// DataStart is the file offset of the data section (8 + header length).
	DataStart int64
}

// dtypeSizes lists every dtype the format defines, so an unsupported one is
// reported as unsupported rather than as garbage.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// HeaderLength reads and bounds the 8-byte length prefix of a file of the
// given size.
func HeaderLength(prefix []byte, fileSize int64) (int64, error) {
	if fileSize < 8 || len(prefix) < 8 {
		return 0, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", fileSize)
	}
	n := binary.LittleEndian.Uint64(prefix[:8])
	if n > MaxHeaderSize {
		return 0, fmt.Errorf("header length %d exceeds the %d-byte limit (not a safetensors file, or corrupt)", n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return 0, fmt.Errorf("header length %d runs past the end of the file (%d bytes after the length prefix)", n, fileSize-8)
	}
	if n < 2 {
		return 0, fmt.Errorf("header length %d is too small for a JSON object", n)
	}
	return int64(n), nil
}

// ParseHeader parses and validates the header of a safetensors file whose
// first bytes are prefix (it must hold at least 8 + the header length bytes)
// and whose total size is fileSize. Errors name the tensor and the problem;
// callers add the file name.
func ParseHeader(prefix []byte, fileSize int64) (*Header, error) {
	n, err := HeaderLength(prefix, fileSize)
	if err != nil {
		return nil, err
	}
	if int64(len(prefix)) < 8+n {
		return nil, fmt.Errorf("header needs %d bytes, only %d given", 8+n, len(prefix))
	}
	h, err := parseJSON(prefix[8:8+n], fileSize-8-n)
	if err != nil {
		return nil, err
	}
	h.DataStart = 8 + n
	return h, nil
}

func parseJSON(js []byte, dataSize int64) (*Header, error) {
	// The reference writer pads the header with trailing spaces; JSON allows that.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("header is not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("header is not a JSON object")
	}
	h := &Header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("tensor %q appears twice in the header", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("header JSON at %q: %v", name, err)
		}
		if name == metadataKey {
			md, err := parseMetadata(raw)
			if err != nil {
				return nil, err
			}
			h.Metadata = md
			continue
		}
		ti, err := parseEntry(name, raw)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, fmt.Errorf("header JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("header has data after the JSON object")
	}
	if err := checkLayout(h.Tensors, dataSize); err != nil {
		return nil, err
	}
	return h, nil
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be an object of strings", metadataKey)
	}
	md := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%q] must be a string, got %s", metadataKey, k, jsonKind(v))
		}
		md[k] = s
	}
	return md, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func parseEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	if name == "" {
		return ti, fmt.Errorf("header has a tensor with an empty name")
	}
	var e struct {
		DType       *string        `json:"dtype"`
		Shape       *[]json.Number `json:"shape"`
		DataOffsets *[]json.Number `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return ti, fmt.Errorf("tensor %q: entry must be an object with dtype, shape and data_offsets: %v", name, err)
	}
	if e.DType == nil {
		return ti, fmt.Errorf("tensor %q: missing dtype", name)
	}
	if e.Shape == nil {
		return ti, fmt.Errorf("tensor %q: missing shape", name)
	}
	if e.DataOffsets == nil {
		return ti, fmt.Errorf("tensor %q: missing data_offsets", name)
	}
	elem, known := dtypeSizes[*e.DType]
	if !known {
		return ti, fmt.Errorf("tensor %q: unknown dtype %q", name, *e.DType)
	}
	dt, err := tensor.ParseDType(*e.DType)
	if err != nil || dt.String() != *e.DType {
		return ti, fmt.Errorf("tensor %q: dtype %s is not supported (supported: F32, BF16, F16, F64)", name, *e.DType)
	}
	ti.DType = dt
	count := int64(1)
	for i, d := range *e.Shape {
		v, err := d.Int64()
		if err != nil || v < 0 {
			return ti, fmt.Errorf("tensor %q: shape[%d] = %s is not a non-negative integer", name, i, d)
		}
		if v > 0 && count > math.MaxInt64/int64(elem)/v {
			return ti, fmt.Errorf("tensor %q: shape %v is too large", name, *e.Shape)
		}
		count *= v
		ti.Shape = append(ti.Shape, int(v))
	}
	if ti.Shape == nil {
		ti.Shape = []int{} // a scalar: rank 0, one element
	}
	if len(*e.DataOffsets) != 2 {
		return ti, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(*e.DataOffsets))
	}
	for i, d := range *e.DataOffsets {
		v, err := d.Int64()
		if err != nil || v < 0 {
			return ti, fmt.Errorf("tensor %q: data_offsets[%d] = %s is not a non-negative integer", name, i, d)
		}
		if i == 0 {
			ti.Begin = v
		} else {
			ti.End = v
		}
	}
	if ti.End < ti.Begin {
		return ti, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", name, ti.Begin, ti.End)
	}
	if want := count * int64(elem); ti.End-ti.Begin != want {
		return ti, fmt.Errorf("tensor %q: %s shape %v needs %d bytes but data_offsets [%d, %d] hold %d",
			name, *e.DType, ti.Shape, want, ti.Begin, ti.End, ti.End-ti.Begin)
	}
	return ti, nil
}

// checkLayout sorts tensors into file order and requires them to tile the data
// section exactly: inside it, no overlaps, no gaps, nothing left over — the
// same rule as the reference implementation.
func checkLayout(ts []TensorInfo, dataSize int64) error {
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Begin != ts[j].Begin {
			return ts[i].Begin < ts[j].Begin
		}
		return ts[i].End < ts[j].End // empty tensors first
	})
	var pos int64
	prev := ""
	for _, t := range ts {
		if t.End > dataSize {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the end of the data section (%d bytes)", t.Name, t.Begin, t.End, dataSize)
		}
		switch {
		case t.Begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q (which ends at %d)", t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			return fmt.Errorf("tensor %q: gap of %d unused bytes before it (data_offsets begin at %d, previous data ends at %d)", t.Name, t.Begin-pos, t.Begin, pos)
		}
		pos = t.End
		prev = t.Name
	}
	if pos != dataSize {
		return fmt.Errorf("data section has %d bytes after the last tensor that no tensor describes (data ends at %d of %d)", dataSize-pos, pos, dataSize)
	}
	return nil
}
