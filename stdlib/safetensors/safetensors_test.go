package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esa/stdlib/tensor"
)

func sample() []*tensor.Tensor {
	a := tensor.FromF32("a.weight", []float32{1, -2, 3.5, 4, 5, 6}, 2, 3)
	b := tensor.New("b.bias", tensor.BF16, 3)
	b.Set(0, 1.5)
	b.Set(2, -0.25)
	c := tensor.New("c", tensor.F16, 1)
	c.Set(0, 0.5)
	d := tensor.New("d", tensor.F64, 2)
	d.Set(0, math.Pi)
	return []*tensor.Tensor{a, b, c, d}
}

func TestRoundTrip(t *testing.T) {
	for _, mm := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "m.safetensors")
		in := sample()
		if err := Write(path, in, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("written file mode %v (%v), want 0644", st.Mode(), err)
		}
		f, err := open(path, mm)
		if err != nil {
			t.Fatal(err)
		}
		if f.Mapped != mm {
			t.Errorf("Mapped = %v, want %v", f.Mapped, mm)
		}
		if f.Metadata["format"] != "pt" {
			t.Errorf("metadata = %v", f.Metadata)
		}
		if len(f.Tensors) != len(in) {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
		}
		for i, got := range f.Tensors {
			want := in[i]
			if got.Name != want.Name || got.DType != want.DType || !equalInts(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
				t.Errorf("tensor %d: got %s %s %v, want %s %s %v", i, got.Name, got.DType, got.Shape, want.Name, want.DType, want.Shape)
			}
		}
		f.Close()
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// In-place edits of a loaded tensor must never reach the file: perturbation
// experiments rely on it.
func TestCopyOnWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Mapped {
		t.Log("mmap unavailable; testing the in-memory fallback")
	}
	f.Tensors[0].F32()[0] = 1234
	if f.Tensors[0].At(0) != 1234 {
		t.Fatal("edit not visible through the tensor")
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := g.Tensors[0].At(0); v != 1 {
		t.Errorf("second open sees %v, want the file's 1", v)
	}
	g.Close()
	f.Close()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("file changed after an in-place edit of a mapped tensor")
	}
}

// build assembles a file image from a raw JSON header and a data section.
func build(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestCorrupt(t *testing.T) {
	data16 := make([]byte, 16)
	cases := []struct {
		name string
		file []byte
		want []string // substrings the error must contain
	}{
		{"empty", nil, []string{"too short"}},
		{"huge header length", func() []byte {
			b := make([]byte, 16)
			binary.LittleEndian.PutUint64(b, 1<<40)
			return b
		}(), []string{"header length", "limit"}},
		{"header past end", func() []byte {
			b := build(`{}`, nil)
			binary.LittleEndian.PutUint64(b, 100)
			return b
		}(), []string{"header length 100", "past the end"}},
		{"not json", build(`{"a":`, nil), []string{"JSON"}},
		{"not object", build(`[1,2]`, nil), []string{"not a JSON object"}},
		{"trailing", build(`{} {}`, nil), []string{"after the JSON object"}},
		{"overlap", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, data16),
			[]string{`"y"`, "overlap", `"x"`}},
		{"gap", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}`, data16),
			[]string{`"y"`, "gap"}},
		{"past data", build(`{"x":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`, data16),
			[]string{`"x"`, "past the end of the data section"}},
		{"trailing data", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data16),
			[]string{"8 bytes after the last tensor"}},
		{"size mismatch", build(`{"x":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}}`, data16),
			[]string{`"x"`, "BF16", "needs 8 bytes", "hold 16"}},
		{"unsupported dtype", build(`{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, data16),
			[]string{`"ids"`, "I64", "not supported", "F32, BF16"}},
		{"unknown dtype", build(`{"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,16]}}`, data16),
			[]string{`"x"`, "unknown dtype"}},
		{"negative dim", build(`{"x":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}`, data16),
			[]string{`"x"`, "shape[0]"}},
		{"reversed offsets", build(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, data16),
			[]string{`"x"`, "end before"}},
		{"missing offsets", build(`{"x":{"dtype":"F32","shape":[4]}}`, data16), []string{`"x"`, "missing data_offsets"}},
		{"duplicate", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data16),
			[]string{`"x"`, "twice"}},
		{"bad metadata", build(`{"__metadata__":{"n":3}}`, nil), []string{"__metadata__", "string"}},
		{"huge shape", build(`{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}`, data16),
			[]string{`"x"`, "too large"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("corrupt file accepted")
			}
			msg := err.Error()
			for _, w := range append(c.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	if err := os.WriteFile(path, full[:len(full)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"d"`) || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("truncated file: err = %v", err)
	}
}

// A data section that is not aligned to the element size must still give
// correct values (copied, not read through a misaligned pointer).
func TestMisaligned(t *testing.T) {
	hdr := `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}` // 55 bytes: data at offset 63
	var data [8]byte
	binary.LittleEndian.PutUint32(data[0:], math.Float32bits(2.5))
	binary.LittleEndian.PutUint32(data[4:], math.Float32bits(-1))
	path := filepath.Join(t.TempDir(), "odd.safetensors")
	if err := os.WriteFile(path, build(hdr, data[:]), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v := f.Tensors[0].F32(); v[0] != 2.5 || v[1] != -1 {
		t.Errorf("values %v", v)
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	bad := &tensor.Tensor{Name: "x", Shape: []int{3}, DType: tensor.F32, Data: make([]byte, 8)}
	err := Write(filepath.Join(dir, "x.safetensors"), []*tensor.Tensor{bad}, nil)
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("err = %v", err)
	}
	a := tensor.New("a", tensor.F32, 1)
	err = Write(filepath.Join(dir, "y.safetensors"), []*tensor.Tensor{a, a}, nil)
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("err = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left files: %v", ents)
	}
}

func FuzzParseHeader(f *testing.F) {
	var buf bytes.Buffer
	hdr, _ := encodeHeader(sample(), map[string]string{"format": "pt"})
	binary.Write(&buf, binary.LittleEndian, uint64(len(hdr)))
	buf.Write(hdr)
	for _, t := range sample() {
		buf.Write(t.Data)
	}
	f.Add(buf.Bytes())
	f.Add(build(`{}`, nil))
	f.Add(build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 16)))
	f.Add(build(`{"x":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Add(build(`{"__metadata__":{"a":"b"},"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b, int64(len(b)))
		if err != nil {
			return
		}
		// Whatever was accepted must be safe to slice and must tile the data.
		var pos int64
		for _, ti := range h.Tensors {
			if ti.Begin != pos || h.DataStart+ti.End > int64(len(b)) {
				t.Fatalf("accepted bad layout: %+v", ti)
			}
			n := int64(ti.DType.Size())
			for _, d := range ti.Shape {
				n *= int64(d)
			}
			if n != ti.End-ti.Begin {
				t.Fatalf("accepted size mismatch: %+v", ti)
			}
			_ = b[h.DataStart+ti.Begin : h.DataStart+ti.End]
			pos = ti.End
		}
		if h.DataStart+pos != int64(len(b)) {
			t.Fatal("accepted uncovered data")
		}
	})
}
