package install

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteRemove(t *testing.T) {
	dir := t.TempDir()
	spec, err := NewSpec("esa", "Go (esa)")
	if err != nil {
		t.Fatal(err)
	}
	kd, err := Write(dir, "esa", spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(kd, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	argv := got["argv"].([]any)
	if !filepath.IsAbs(argv[0].(string)) || argv[3] != "{connection_file}" || got["interrupt_mode"] != "message" || got["language"] != "go" {
		t.Fatalf("kernel.json %s", b)
	}
	for _, n := range []int{32, 64} {
		f, _ := os.ReadFile(filepath.Join(kd, map[int]string{32: "logo-32x32.png", 64: "logo-64x64.png"}[n]))
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil || img.Bounds().Dx() != n || img.Bounds().Dy() != n {
			t.Fatalf("logo %d: %v %v", n, err, img)
		}
	}
	if ok, err := Remove(dir, "esa"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := os.Stat(kd); !os.IsNotExist(err) {
		t.Fatal("not removed")
	}
	if _, err := Write(dir, "../x", spec); err == nil {
		t.Fatal("accepted a path as kernel name")
	}
}
