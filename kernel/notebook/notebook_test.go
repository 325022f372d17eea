package notebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/traefik/yaegi/interp"

	"esa/stdlib/symbols"
)

func code(src string, tags ...string) *Cell {
	md := map[string]any{}
	if len(tags) > 0 {
		var t []any
		for _, x := range tags {
			t = append(t, x)
		}
		md["tags"] = t
	}
	return &Cell{CellType: "code", Metadata: md, Source: Source(src)}
}

func markdown(src string) *Cell {
	return &Cell{CellType: "markdown", Metadata: map[string]any{}, Source: Source(src)}
}

func newNB(cells ...*Cell) *Notebook {
	return &Notebook{Cells: cells, Metadata: map[string]any{}, NBFormat: 4, NBFormatMinor: 5}
}

func TestInjectParametersAfterTaggedCell(t *testing.T) {
	nb := newNB(markdown("# t"), code("n := 3\nname := \"x\"", "parameters"), code("fmt.Println(n)"))
	InjectParameters(nb, map[string]string{"n": "5", "name": "gopher", "rate": "1.5", "on": "true", "hex": "0x10"})
	if len(nb.Cells) != 4 {
		t.Fatalf("%d cells", len(nb.Cells))
	}
	inj := nb.Cells[2]
	if tags := inj.Tags(); len(tags) != 1 || tags[0] != "injected-parameters" {
		t.Fatalf("tags %v", tags)
	}
	want := "// Parameters injected by esa run\nhex = 0x10\nn = 5\nname = \"gopher\"\non = true\nrate = 1.5\n"
	if string(inj.Source) != want {
		t.Fatalf("injected cell:\n%s\nwant:\n%s", inj.Source, want)
	}
	if string(nb.Cells[3].Source) != "fmt.Println(n)" {
		t.Fatal("cells after the parameters cell moved wrongly")
	}
}

func TestInjectParametersWithoutTaggedCell(t *testing.T) {
	nb := newNB(code("fmt.Println(n)"))
	InjectParameters(nb, map[string]string{"n": "5"})
	if len(nb.Cells) != 2 || !strings.Contains(string(nb.Cells[0].Source), "n := 5") {
		t.Fatalf("want a declaring cell first, got %q", nb.Cells[0].Source)
	}
	nb2 := newNB(code("x := 1"))
	InjectParameters(nb2, nil)
	if len(nb2.Cells) != 1 {
		t.Fatal("no parameters must add no cell")
	}
}

// testSymbols adds a compiled package that writes to file descriptors
// directly, as compiled library code does.
func testSymbols() []interp.Exports {
	return []interp.Exports{symbols.Exports(), {
		"fdwrite/fdwrite": {"Write": reflect.ValueOf(func(fd int, s string) { syscall.Write(fd, []byte(s)) })},
	}}
}

func TestRunOutputs(t *testing.T) {
	nb := newNB(
		markdown("# title"),
		code("import \"fmt\"\nfmt.Println(\"hi\")\n6*7"),
		code("import \"display\"\ndisplay.HTML(\"<b>x</b>\")\nd := display.New()\nd.Text(\"first\")\nd.Text(\"second\")"),
		code("import \"os\"\nfmt.Fprintln(os.Stderr, \"warn\")\nimport \"fdwrite\"\nfdwrite.Write(1, \"fd one\\n\")\nfdwrite.Write(2, \"fd two\\n\")"),
	)
	var stat1, stat2 syscall.Stat_t
	syscall.Fstat(1, &stat1)
	if err := Run(context.Background(), nb, testSymbols(), nil); err != nil {
		t.Fatal(err)
	}
	syscall.Fstat(1, &stat2)
	if stat1.Ino != stat2.Ino || stat1.Dev != stat2.Dev {
		t.Fatal("file descriptor 1 not restored after the run")
	}
	c1 := nb.Cells[1]
	if *c1.ExecutionCount != 1 || len(c1.Outputs) != 2 {
		t.Fatalf("cell 1: %+v", c1.Outputs)
	}
	if o := c1.Outputs[0]; o["output_type"] != "stream" || o["name"] != "stdout" || o["text"] != "hi\n" {
		t.Fatalf("stream output %v", o)
	}
	if o := c1.Outputs[1]; o["output_type"] != "execute_result" || o["data"].(map[string]any)["text/plain"] != "42" || o["execution_count"] != 1 {
		t.Fatalf("result output %v", o)
	}
	c2 := nb.Cells[2]
	if len(c2.Outputs) != 2 || c2.Outputs[0]["data"].(map[string]any)["text/html"] != "<b>x</b>" {
		t.Fatalf("cell 2: %v", c2.Outputs)
	}
	// The update replaced the display's output in place.
	if got := c2.Outputs[1]["data"].(map[string]any)["text/plain"]; got != "second" {
		t.Fatalf("updated display shows %v", got)
	}
	streams := map[string]string{}
	for _, o := range nb.Cells[3].Outputs {
		streams[o["name"].(string)] += o["text"].(string)
	}
	if streams["stdout"] != "fd one\n" || streams["stderr"] != "warn\nfd two\n" {
		t.Fatalf("compiled code's writes to fd 1 and 2 not captured in order: %q", streams)
	}
	path := filepath.Join(t.TempDir(), "out.ipynb")
	if err := nb.Write(path); err != nil {
		t.Fatal(err)
	}
	checkNBFormat(t, path)
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Cells) != 4 || string(back.Cells[1].Source) != string(nb.Cells[1].Source) {
		t.Fatal("round trip changed the cells")
	}
}

func TestRunKeepsOutputOrder(t *testing.T) {
	nb := newNB(code("import (\"display\"; \"fmt\")\nfmt.Println(\"before\")\ndisplay.Text(\"shown\")\nfmt.Println(\"after\")"))
	if err := Run(context.Background(), nb, testSymbols(), nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range nb.Cells[0].Outputs {
		if o["output_type"] == "stream" {
			got = append(got, o["text"].(string))
		} else {
			got = append(got, o["data"].(map[string]any)["text/plain"].(string))
		}
	}
	if strings.Join(got, "|") != "before\n|shown|after\n" {
		t.Fatalf("outputs out of order: %q", got)
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	nb := newNB(code("x := 1"), code("y := 2\npanic(\"boom\")"), code("x + 1"))
	err := Run(context.Background(), nb, testSymbols(), nil)
	var ce *CellError
	if !errors.As(err, &ce) || ce.Index != 1 || ce.Err.Name != "Panic" {
		t.Fatalf("want a CellError for cell 1, got %v", err)
	}
	outs := nb.Cells[1].Outputs
	if len(outs) != 1 || outs[0]["output_type"] != "error" || outs[0]["ename"] != "Panic" {
		t.Fatalf("error output %v", outs)
	}
	if tb, ok := outs[0]["traceback"].([]string); !ok || len(tb) == 0 {
		t.Fatalf("traceback %#v", outs[0]["traceback"])
	}
	if last := nb.Cells[2]; last.ExecutionCount != nil || len(last.Outputs) != 0 {
		t.Fatal("a cell after the failing one ran")
	}
	path := filepath.Join(t.TempDir(), "failed.ipynb")
	if err := nb.Write(path); err != nil {
		t.Fatal(err)
	}
	checkNBFormat(t, path)
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.ipynb": "{not json",
		"v3.ipynb":      `{"cells":[],"metadata":{},"nbformat":3,"nbformat_minor":0}`,
		"null.ipynb":    `{"cells":[null],"metadata":{},"nbformat":4,"nbformat_minor":5}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

// checkNBFormat checks the written file against nbformat 4's schema: the
// structural rules here always, and nbformat's own validator when Debian's
// python3-nbformat is installed.
func checkNBFormat(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb map[string]any
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	if nb["nbformat"] != 4.0 {
		t.Fatalf("nbformat %v", nb["nbformat"])
	}
	minor, _ := nb["nbformat_minor"].(float64)
	for i, x := range nb["cells"].([]any) {
		c := x.(map[string]any)
		where := fmt.Sprintf("cell %d", i)
		for _, k := range []string{"cell_type", "metadata", "source"} {
			if _, ok := c[k]; !ok {
				t.Errorf("%s: no %s", where, k)
			}
		}
		if id, ok := c["id"].(string); minor >= 5 && (!ok || id == "") {
			t.Errorf("%s: nbformat 4.%d needs a cell id", where, int(minor))
		}
		if c["cell_type"] != "code" {
			if _, ok := c["outputs"]; ok {
				t.Errorf("%s: a %v cell has outputs", where, c["cell_type"])
			}
			continue
		}
		if _, ok := c["execution_count"]; !ok {
			t.Errorf("%s: no execution_count (null is required when not run)", where)
		}
		outs, ok := c["outputs"].([]any)
		if !ok {
			t.Errorf("%s: outputs missing or not a list", where)
		}
		for _, o := range outs {
			o := o.(map[string]any)
			need := map[string][]string{
				"stream":         {"name", "text"},
				"display_data":   {"data", "metadata"},
				"execute_result": {"data", "metadata", "execution_count"},
				"error":          {"ename", "evalue", "traceback"},
			}[o["output_type"].(string)]
			if need == nil {
				t.Errorf("%s: unknown output_type %v", where, o["output_type"])
			}
			for _, k := range need {
				if _, ok := o[k]; !ok {
					t.Errorf("%s: %v output lacks %s", where, o["output_type"], k)
				}
			}
		}
	}
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import nbformat").Run() != nil {
		t.Log("python3-nbformat not installed: nbformat's own validator skipped")
		return
	}
	out, err := exec.Command(py, "-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))", path).CombinedOutput()
	if err != nil {
		t.Errorf("nbformat.validate: %v\n%s", err, out)
	}
}
