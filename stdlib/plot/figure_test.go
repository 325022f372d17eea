package plot

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkPNG decodes data and fails unless it is a w×h image with real content.
func checkPNG(t *testing.T, data []byte, w, h int) {
	t.Helper()
	if err := pngProblem(data, w, h); err != nil {
		t.Fatal(err)
	}
}

// pngProblem says what is wrong with data as a w×h plot image, or nil. A blank or
// near-blank canvas has almost no luminance variance and few dark pixels.
func pngProblem(data []byte, w, h int) error {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("PNG does not decode: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return fmt.Errorf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	var sum, sum2 float64
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (float64(r) + float64(g) + float64(bl)) / (3 * 0xffff)
			sum += l
			sum2 += l * l
			if l < 0.5 {
				dark++
			}
		}
	}
	n := float64(b.Dx() * b.Dy())
	variance := sum2/n - (sum/n)*(sum/n)
	// Axes and text alone cover ~1% of the pixels; a plotted figure far more.
	if variance < 0.005 || dark < int(n/100) {
		return fmt.Errorf("PNG looks blank: luminance variance %.5f, %d dark pixels of %.0f", variance, dark, n)
	}
	return nil
}

// TestPNGCheckCatchesBlank keeps the blank-image check honest: a white canvas and
// one with only a frame must both be rejected.
func TestPNGCheckCatchesBlank(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 576, 384))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if pngProblem(buf.Bytes(), 576, 384) == nil {
		t.Fatal("white image passed")
	}
	for x := range 576 {
		img.Set(x, 0, color.Black)
		img.Set(x, 383, color.Black)
	}
	buf.Reset()
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if pngProblem(buf.Bytes(), 576, 384) == nil {
		t.Fatal("image with only a frame passed")
	}
	if pngProblem(buf.Bytes(), 600, 400) == nil {
		t.Fatal("wrong size passed")
	}
}

// checkSVG fails unless data is well-formed XML with an <svg> root.
func checkSVG(t *testing.T, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element is %q, want svg", root)
	}
}

// checkFigure runs every output path of a figure at its default size.
func checkFigure(t *testing.T, f *Figure) {
	t.Helper()
	data, err := f.PNG()
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	checkPNG(t, data, 576, 384)
	svg, err := f.SVG()
	if err != nil {
		t.Fatalf("SVG: %v", err)
	}
	checkSVG(t, svg)

	bundle := f.MIMEBundle()
	if len(bundle) != 2 {
		t.Fatalf("MIMEBundle has keys %v, want image/png and text/plain", keys(bundle))
	}
	b64, ok := bundle["image/png"].(string)
	if !ok {
		t.Fatalf("MIMEBundle image/png is %T, want string", bundle["image/png"])
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("MIMEBundle image/png is not base64: %v", err)
	}
	// Rendering is deterministic, so the bundle carries exactly the PNG.
	if !bytes.Equal(raw, data) {
		t.Fatalf("MIMEBundle PNG (%d bytes) differs from PNG() (%d bytes)", len(raw), len(data))
	}
	if txt, _ := bundle["text/plain"].(string); txt != f.String() || !strings.HasPrefix(txt, "<Figure: ") {
		t.Fatalf("MIMEBundle text/plain = %q, want %q", bundle["text/plain"], f.String())
	}
	if dir := os.Getenv("ESA_PLOT_DIR"); dir != "" {
		// For looking at the test figures: ESA_PLOT_DIR=/tmp/plots go test ./stdlib/plot/
		saved++
		name := fmt.Sprintf("%s_%02d.png", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), saved)
		if err := f.Save(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// saved numbers the figures written to ESA_PLOT_DIR so a test's figures do not
// overwrite one another.
var saved int

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sampleFigure(t *testing.T) *Figure {
	t.Helper()
	f, err := Histogram("score distribution", []float64{1, 2, 2, 3, 3, 3, 4, 10, 100}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFigureString(t *testing.T) {
	f := sampleFigure(t)
	if got, want := f.String(), "<Figure: score distribution, 6x4 in>"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	f.SetTitle("").SetSize(3.5, 2)
	if got, want := f.String(), "<Figure: histogram, 3.5x2 in>"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestSetSizeAndDPI(t *testing.T) {
	f := sampleFigure(t).SetSize(3, 2)
	data, err := f.PNG()
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, data, 288, 192)
	data, err = f.SetDPI(200).PNG()
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, data, 600, 400)

	for _, bad := range [][2]float64{{0, 4}, {6, -1}, {math.NaN(), 4}, {6, 51}} {
		f := sampleFigure(t).SetSize(bad[0], bad[1])
		if _, err := f.PNG(); err == nil || !strings.Contains(err.Error(), "invalid figure size") {
			t.Errorf("SetSize(%g, %g): PNG error = %v, want invalid figure size", bad[0], bad[1], err)
		}
		if _, err := f.SVG(); err == nil {
			t.Errorf("SetSize(%g, %g): SVG rendered", bad[0], bad[1])
		}
		bundle := f.MIMEBundle()
		if _, ok := bundle["image/png"]; ok {
			t.Errorf("SetSize(%g, %g): MIMEBundle has an image", bad[0], bad[1])
		}
		if txt, _ := bundle["text/plain"].(string); !strings.Contains(txt, "render failed") {
			t.Errorf("SetSize(%g, %g): MIMEBundle text = %q, want the render error", bad[0], bad[1], txt)
		}
	}
	if _, err := sampleFigure(t).SetDPI(0).PNG(); err == nil {
		t.Error("DPI 0 rendered")
	}
}

func TestSetLabels(t *testing.T) {
	f := sampleFigure(t)
	before, err := f.PNG()
	if err != nil {
		t.Fatal(err)
	}
	after, err := f.SetXLabel("|g·w|").SetYLabel("weights").PNG()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Fatal("changing the axis labels did not change the image")
	}
	// Rendering must not lose the labels it hides from gonum while drawing.
	if f.plot.X.Label.Text != "|g·w|" || f.plot.Y.Label.Text != "weights" {
		t.Fatalf("labels after render: %q, %q", f.plot.X.Label.Text, f.plot.Y.Label.Text)
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	f := sampleFigure(t)
	for _, name := range []string{"a.png", "b.SVG"} {
		path := filepath.Join(dir, name)
		if err := f.Save(path); err != nil {
			t.Fatalf("Save(%s): %v", name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") {
			checkPNG(t, data, 576, 384)
		} else {
			checkSVG(t, data)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %d entries after two saves (temp files left?)", len(entries))
	}

	err := f.Save(filepath.Join(dir, "c.jpg"))
	if err == nil || !strings.Contains(err.Error(), ".png, .svg") {
		t.Fatalf("Save(.jpg) error = %v, want the valid extensions listed", err)
	}
	if err := f.Save(filepath.Join(dir, "missing", "d.png")); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
	// A failed render writes nothing.
	if err := sampleFigure(t).SetSize(-1, 1).Save(filepath.Join(dir, "e.png")); err == nil {
		t.Fatal("Save with an invalid size succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "e.png")); !os.IsNotExist(err) {
		t.Fatal("failed Save left a file")
	}
}

func TestConcurrentRenders(t *testing.T) {
	f := sampleFigure(t)
	want, err := f.PNG()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := f.PNG()
			if err == nil && !bytes.Equal(got, want) {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent render: %v", err)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1313: "1313", -560: "-560", 0.437: "0.437", 12.34: "12.3",
		4.51e-4: "4.51e-4", 1.2e-5: "1.2e-5", 3e7: "3e7", math.NaN(): "NaN",
	} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%g) = %q, want %q", v, got, want)
		}
	}
	if got := formatCount(1234567); got != "1,234,567" {
		t.Errorf("formatCount = %q", got)
	}
}

// TestTinySizes renders figures far too small for their content: the result may be
// cramped but must come back (image or error) without panicking or hanging.
func TestTinySizes(t *testing.T) {
	figs := []func() (*Figure, error){
		func() (*Figure, error) {
			return Histogram("a long title that cannot fit", []float64{1, 2, 3, math.NaN()}, 0)
		},
		func() (*Figure, error) {
			return PercentileHeatmap("m", []string{"0", "1"}, []string{"q", "k"}, [][]float64{{1, 2}, {3, 4}})
		},
		func() (*Figure, error) {
			return ActivationSpikes("s", []int{0, 1, 2}, []float64{1, 50, 2}, []float64{0, 80, 3})
		},
	}
	for i, mk := range figs {
		for _, size := range [][2]float64{{0.3, 0.3}, {1, 0.8}, {12, 1}, {1, 12}} {
			f, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.SetSize(size[0], size[1]).PNG(); err != nil {
				t.Logf("figure %d at %gx%g in: %v", i, size[0], size[1], err)
			}
			if _, err := f.SVG(); err != nil {
				t.Logf("figure %d at %gx%g in (SVG): %v", i, size[0], size[1], err)
			}
		}
	}
}
