// Package display shows rich output from notebook cells: text, HTML,
// Markdown, PNG, SVG and JSON, and any value with a MIMEBundle method (plots,
// tables). Output goes to a sink the host installs: the Jupyter kernel
// publishes display_data messages, `esa run` stores notebook outputs, and
// `esa exec` prints a text fallback. A Display (from New) is one output that
// later calls update in place.
package display

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Output is one display message for the host.
type Output struct {
	Data      map[string]any // MIME type -> data (strings; JSON values for application/json)
	Metadata  map[string]any
	DisplayID string // set for outputs of a Display
	Update    bool   // true: replace the earlier output with DisplayID
	Clear     bool   // clear the cell's outputs (Data is nil); Wait: when the next output arrives
	Wait      bool
}

// MIMEBundler is implemented by values that know how to show themselves.
// Binary data (image/png) is base64 text, as in Jupyter messages.
type MIMEBundler interface {
	MIMEBundle() map[string]any
}

var (
	sinkMu sync.RWMutex
	sink   func(Output)
)

// SetSink installs the function that receives every output; nil restores
// the default, which prints a text rendering to standard output. Hosts
// call it; cells do not need to.
func SetSink(f func(Output)) {
	sinkMu.Lock()
	sink = f
	sinkMu.Unlock()
}

func emit(o Output) {
	sinkMu.RLock()
	f := sink
	sinkMu.RUnlock()
	if f == nil {
		f = printText
	}
	f(o)
}

// printText is the sink of terminal programs: it prints the best text
// rendering of a bundle and never writes binary data.
func printText(o Output) {
	if o.Clear {
		return
	}
	fmt.Fprintln(os.Stdout, TextOf(o.Data))
}

// TextOf returns the best plain-text rendering of a bundle.
func TextOf(b map[string]any) string {
	for _, k := range []string{"text/plain", "text/markdown", "text/html", "image/svg+xml"} {
		if s, ok := b[k].(string); ok {
			return s
		}
	}
	if v, ok := b["application/json"]; ok {
		j, _ := json.MarshalIndent(v, "", "  ")
		return string(j)
	}
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "[" + strings.Join(keys, ", ") + "]"
}

// Text shows plain text.
func Text(s string) { emit(Output{Data: TextBundle(s)}) }

// HTML shows an HTML fragment.
func HTML(s string) { emit(Output{Data: HTMLBundle(s)}) }

// Markdown shows Markdown text.
func Markdown(s string) { emit(Output{Data: MarkdownBundle(s)}) }

// SVG shows an SVG image.
func SVG(s string) { emit(Output{Data: SVGBundle(s)}) }

// PNG shows PNG image bytes.
func PNG(b []byte) { emit(Output{Data: PNGBundle(b)}) }

// JSON shows a value as application/json (it must marshal to JSON).
func JSON(v any) { emit(Output{Data: JSONBundle(v)}) }

// Show shows any value: its MIMEBundle when it has one, else its text.
func Show(v any) { emit(Output{Data: BundleOf(v)}) }

// Clear clears the outputs of the running cell now.
func Clear() { emit(Output{Clear: true}) }

// ClearWait clears the outputs of the running cell when the next output
// arrives, which avoids flicker in animations.
func ClearWait() { emit(Output{Clear: true, Wait: true}) }

// Bundle shows a MIME bundle as given.
func Bundle(b map[string]any) { emit(Output{Data: b}) }

// TextBundle, HTMLBundle, ... build the bundles the functions above show.
func TextBundle(s string) map[string]any { return map[string]any{"text/plain": s} }

// HTMLBundle is the bundle of an HTML fragment.
func HTMLBundle(s string) map[string]any {
	return map[string]any{"text/html": s, "text/plain": "[HTML]"}
}

// MarkdownBundle is the bundle of Markdown text.
func MarkdownBundle(s string) map[string]any {
	return map[string]any{"text/markdown": s, "text/plain": s}
}

// SVGBundle is the bundle of an SVG image.
func SVGBundle(s string) map[string]any {
	return map[string]any{"image/svg+xml": s, "text/plain": "[SVG image]"}
}

// PNGBundle is the bundle of PNG bytes.
func PNGBundle(b []byte) map[string]any {
	return map[string]any{"image/png": base64.StdEncoding.EncodeToString(b),
		"text/plain": fmt.Sprintf("[PNG image, %d bytes]", len(b))}
}

// JSONBundle is the bundle of a JSON value; a value that cannot be
// marshalled is shown as the error text.
func JSONBundle(v any) map[string]any {
	j, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"text/plain": "display.JSON: " + err.Error()}
	}
	var norm any
	_ = json.Unmarshal(j, &norm)
	return map[string]any{"application/json": norm, "text/plain": string(j)}
}

// BundleOf renders a value: its MIMEBundle when it has one (a text/plain
// fallback is added if missing), else its text.
func BundleOf(v any) map[string]any {
	if mb, ok := v.(MIMEBundler); ok {
		b := mb.MIMEBundle()
		out := make(map[string]any, len(b)+1)
		for k, x := range b {
			out[k] = x
		}
		if _, ok := out["text/plain"]; !ok {
			out["text/plain"] = TextOf(b)
		}
		return out
	}
	return TextBundle(Format(v))
}

// Format renders a value as text: errors by message, structs with field
// names, everything else as fmt's %v.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	}
	r := reflect.ValueOf(v)
	if r.Kind() == reflect.Struct || (r.Kind() == reflect.Pointer && r.Elem().Kind() == reflect.Struct) {
		return fmt.Sprintf("%+v", v)
	}
	return fmt.Sprintf("%v", v)
}

// Display is one output that can be replaced in place.
type Display struct {
	id    string
	shown atomic.Bool
}

var lastID atomic.Int64

// New returns a Display; its first call shows an output and later calls
// replace it (update_display_data in Jupyter).
func New() *Display {
	return &Display{id: fmt.Sprintf("esa-%d-%d", os.Getpid(), lastID.Add(1))}
}

// ID is the display id.
func (d *Display) ID() string { return d.id }

func (d *Display) emit(b map[string]any) {
	emit(Output{Data: b, DisplayID: d.id, Update: d.shown.Swap(true)})
}

// Text shows or replaces with plain text.
func (d *Display) Text(s string) { d.emit(TextBundle(s)) }

// HTML shows or replaces with HTML.
func (d *Display) HTML(s string) { d.emit(HTMLBundle(s)) }

// Markdown shows or replaces with Markdown.
func (d *Display) Markdown(s string) { d.emit(MarkdownBundle(s)) }

// SVG shows or replaces with an SVG image.
func (d *Display) SVG(s string) { d.emit(SVGBundle(s)) }

// PNG shows or replaces with a PNG image.
func (d *Display) PNG(b []byte) { d.emit(PNGBundle(b)) }

// JSON shows or replaces with a JSON value.
func (d *Display) JSON(v any) { d.emit(JSONBundle(v)) }

// Show shows or replaces with any value.
func (d *Display) Show(v any) { d.emit(BundleOf(v)) }

// Bundle shows or replaces with a MIME bundle.
func (d *Display) Bundle(b map[string]any) { d.emit(b) }

// Hosted reports whether a host (kernel, notebook runner) installed a sink.
func Hosted() bool {
	sinkMu.RLock()
	defer sinkMu.RUnlock()
	return sink != nil
}
