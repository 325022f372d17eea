package output

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFileAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "a.json")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
	// A folder in the way is an error naming the path, and leaves no temp file.
	if err := os.Mkdir(filepath.Join(dir, "sub", "b.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "sub", "b.json"), []byte("x")); err == nil {
		t.Fatal("rename over a folder succeeded")
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 2 {
		t.Fatalf("temp file left after a failed write: %v", ents)
	}
}

type inner struct {
	X float32 `json:"x"`
}

type Embedded struct {
	E1 int `json:"e1"`
}

type sample struct {
	Embedded
	*inner
	Name     string             `json:"name"`
	PPL      float64            `json:"ppl"`
	Neg      float64            `json:"neg"`
	Bad      float64            `json:"bad"`
	Skip     int                `json:"-"`
	Empty    []int              `json:"empty,omitempty"`
	Zero     int                `json:"zero,omitempty"`
	Nested   []inner            `json:"nested"`
	Map      map[string]float64 `json:"map"`
	Ptr      *inner             `json:"ptr"`
	When     time.Time          `json:"when"`
	Untagged int
}

func TestMarshalJSONNonFinite(t *testing.T) {
	s := sample{Embedded: Embedded{4}, inner: &inner{0.5}, Name: "a\"b", PPL: math.Inf(1), Neg: math.Inf(-1), Bad: math.NaN(), Skip: 3, Empty: []int{},
		Nested: []inner{{0.1}}, Map: map[string]float64{"z": 1, "a": 2.5}, When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Untagged: 7}
	b, err := MarshalJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, b)
	}
	want := map[string]any{"e1": 4.0, "x": 0.5, "name": "a\"b", "ppl": "Infinity", "neg": "-Infinity", "bad": "NaN",
		"nested": []any{map[string]any{"x": 0.1}}, "map": map[string]any{"a": 2.5, "z": 1.0}, "ptr": nil,
		"when": "2026-01-02T03:04:05Z", "Untagged": 7.0}
	for k, v := range want {
		got, _ := json.Marshal(back[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
	for _, k := range []string{"Skip", "empty", "zero"} {
		if _, ok := back[k]; ok {
			t.Errorf("%s should be omitted", k)
		}
	}
	// float32 0.1 is written in its shortest float32 form, not 0.10000000149.
	if !strings.Contains(string(b), `"x": 0.1`) {
		t.Errorf("float32 formatting: %s", b)
	}
	// Field order follows the struct.
	if strings.Index(string(b), `"name"`) > strings.Index(string(b), `"ppl"`) {
		t.Error("field order not kept")
	}
}

func TestDefaultDir(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	got := DefaultDir("/m/stories260K-hf/", "grad_x_weight", "per_layer", 100, "bit_flip", at)
	if want := filepath.Join("outputs", "stories260K-hf_grad_x_weight_per_layer_k100_bit_flip_20260304-050607"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got = DefaultDir("meta-llama/Llama 2.bin", "act_mag", "global", 5, "", at)
	if want := filepath.Join("outputs", "Llama_2_act_mag_global_k5_20260304-050607"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestWriteCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	if err := WriteCSV(p, []string{"a", "b"}, [][]string{{"1", "x,y"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "a,b\n1,\"x,y\"\n" {
		t.Errorf("csv %q", b)
	}
	if err := WriteCSV(p, []string{"a", "b"}, [][]string{{"1"}}); err == nil {
		t.Error("short row accepted")
	}
}

func TestFacts(t *testing.T) {
	h := HardwareInfo()
	if h.LogicalCPUs < 1 || h.GOMAXPROCS < 1 {
		t.Errorf("hardware %+v", h)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && (h.MemoryBytes == 0 || h.CPUModel == "") {
		t.Errorf("hardware on Linux lacks memory or CPU model: %+v", h)
	}
	b := BuildInfo()
	if b.GoVersion == "" || b.GitCommit == "" {
		t.Errorf("build %+v", b)
	}
}
