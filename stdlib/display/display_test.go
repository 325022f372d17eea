package display

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// capture installs a sink recording every output for the test's duration.
func capture(t *testing.T) *[]Output {
	t.Helper()
	var got []Output
	SetSink(func(o Output) { got = append(got, o) })
	t.Cleanup(func() { SetSink(nil) })
	return &got
}

func TestBundles(t *testing.T) {
	got := capture(t)
	png := []byte{0x89, 'P', 'N', 'G'}
	Text("t")
	HTML("<b>h</b>")
	Markdown("*m*")
	SVG("<svg/>")
	PNG(png)
	JSON(map[string]int{"a": 1})
	Bundle(map[string]any{"text/latex": "$x$"})
	want := []map[string]any{
		{"text/plain": "t"},
		{"text/html": "<b>h</b>", "text/plain": "[HTML]"},
		{"text/markdown": "*m*", "text/plain": "*m*"},
		{"image/svg+xml": "<svg/>", "text/plain": "[SVG image]"},
		{"image/png": base64.StdEncoding.EncodeToString(png), "text/plain": "[PNG image, 4 bytes]"},
		{"application/json": map[string]any{"a": 1.0}, "text/plain": `{"a":1}`},
		{"text/latex": "$x$"},
	}
	if len(*got) != len(want) {
		t.Fatalf("%d outputs", len(*got))
	}
	for i, o := range *got {
		if o.DisplayID != "" || o.Update || o.Clear {
			t.Errorf("output %d: unexpected flags %+v", i, o)
		}
		if len(o.Data) != len(want[i]) {
			t.Errorf("output %d: %v, want %v", i, o.Data, want[i])
			continue
		}
		for k, v := range want[i] {
			if k == "application/json" {
				if o.Data[k].(map[string]any)["a"] != 1.0 {
					t.Errorf("json %v", o.Data[k])
				}
				continue
			}
			if o.Data[k] != v {
				t.Errorf("output %d %s: %v, want %v", i, k, o.Data[k], v)
			}
		}
	}
}

func TestJSONThatCannotMarshal(t *testing.T) {
	b := JSONBundle(make(chan int))
	if _, ok := b["application/json"]; ok || !strings.Contains(b["text/plain"].(string), "display.JSON") {
		t.Fatalf("%v", b)
	}
}

func TestDisplayUpdatesInPlace(t *testing.T) {
	got := capture(t)
	d, e := New(), New()
	d.Text("a")
	d.HTML("<i>b</i>")
	e.Text("other")
	d.Show(42)
	o := *got
	if len(o) != 4 {
		t.Fatalf("%d outputs", len(o))
	}
	if o[0].DisplayID != d.ID() || o[0].Update {
		t.Fatalf("first call must show, not update: %+v", o[0])
	}
	if o[1].DisplayID != d.ID() || !o[1].Update || o[1].Data["text/html"] != "<i>b</i>" {
		t.Fatalf("second call must update: %+v", o[1])
	}
	if o[2].DisplayID == d.ID() || o[2].Update {
		t.Fatalf("another display has its own id: %+v", o[2])
	}
	if o[3].Data["text/plain"] != "42" || !o[3].Update {
		t.Fatalf("%+v", o[3])
	}
}

func TestClear(t *testing.T) {
	got := capture(t)
	Clear()
	ClearWait()
	if o := *got; len(o) != 2 || !o[0].Clear || o[0].Wait || !o[1].Clear || !o[1].Wait {
		t.Fatalf("%+v", o)
	}
}

type chart struct{}

func (chart) MIMEBundle() map[string]any { return map[string]any{"image/svg+xml": "<svg>c</svg>"} }

type point struct{ X, Y int }

type named struct{}

func (named) String() string { return "named!" }

func TestBundleOfAndFormat(t *testing.T) {
	b := BundleOf(chart{})
	if b["image/svg+xml"] != "<svg>c</svg>" || b["text/plain"] != "<svg>c</svg>" {
		t.Fatalf("MIMEBundler without text/plain gets a text fallback: %v", b)
	}
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, "<nil>"},
		{errors.New("bad"), "bad"},
		{named{}, "named!"},
		{point{1, 2}, "{X:1 Y:2}"},
		{&point{3, 4}, "&{X:3 Y:4}"},
		{[]int{1, 2}, "[1 2]"},
		{3.5, "3.5"},
	} {
		if got := Format(c.v); got != c.want {
			t.Errorf("Format(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestTextOf(t *testing.T) {
	for _, c := range []struct {
		b    map[string]any
		want string
	}{
		{map[string]any{"text/plain": "p", "text/html": "h"}, "p"},
		{map[string]any{"text/markdown": "m", "text/html": "h"}, "m"},
		{map[string]any{"application/json": map[string]any{"k": 1}}, "{\n  \"k\": 1\n}"},
		{map[string]any{"image/png": "xx", "image/jpeg": "yy"}, "[image/jpeg, image/png]"},
	} {
		if got := TextOf(c.b); got != c.want {
			t.Errorf("TextOf(%v) = %q, want %q", c.b, got, c.want)
		}
	}
}

// Without a sink (esa exec), outputs print their text and never binary data.
func TestDefaultSinkPrintsText(t *testing.T) {
	SetSink(nil)
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	HTML("<b>x</b>")
	PNG([]byte{1, 2, 3})
	Clear()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	if string(b) != "[HTML]\n[PNG image, 3 bytes]\n" {
		t.Fatalf("%q", b)
	}
}
