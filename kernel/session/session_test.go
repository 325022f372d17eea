package session

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"esa/stdlib/display"
	"esa/stdlib/symbols"

	"github.com/traefik/yaegi/interp"
)

type fixture struct {
	t   *testing.T
	s   *Session
	out *bytes.Buffer
	err *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	s, err := New(Options{Stdout: f.out, Stderr: f.err, Symbols: []interp.Exports{symbols.Exports()}})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

// run executes a cell that must succeed and returns its text/plain value and stdout.
func (f *fixture) run(code string) (string, string) {
	f.t.Helper()
	f.out.Reset()
	r := f.s.Exec(context.Background(), code)
	if r.Err != nil {
		f.t.Fatalf("cell %q failed: %s\n%s", code, r.Err, strings.Join(r.Err.Traceback, "\n"))
	}
	v, _ := r.Data["text/plain"].(string)
	return v, f.out.String()
}

func (f *fixture) fail(code string) *Error {
	f.t.Helper()
	r := f.s.Exec(context.Background(), code)
	if r.Err == nil {
		f.t.Fatalf("cell %q succeeded", code)
	}
	return r.Err
}

func TestValuesPersistAndResult(t *testing.T) {
	f := newFixture(t)
	if v, _ := f.run("6*7"); v != "42" {
		t.Fatalf("6*7 = %q", v)
	}
	f.run("x := 5")
	if v, _ := f.run("x + 1"); v != "6" {
		t.Fatalf("x+1 = %q", v)
	}
	if v, _ := f.run(`"hi"`); v != `"hi"` {
		t.Fatalf("string shown as %q", v)
	}
}

func TestNoResultForMultiValueCall(t *testing.T) {
	f := newFixture(t)
	v, out := f.run("import \"fmt\"\nfmt.Println(\"hello\")")
	if v != "" || out != "hello\n" {
		t.Fatalf("value %q out %q", v, out)
	}
	f.run("func two() (int, error) { return 1, nil }")
	if v, _ := f.run("two()"); v != "" {
		t.Fatalf("two() displayed %q", v)
	}
	f.run("func one() int { return 7 }")
	if v, _ := f.run("one()"); v != "7" {
		t.Fatalf("one() = %q", v)
	}
	if v, _ := f.run("fmt.Sprint(3)"); v != `"3"` {
		t.Fatalf("fmt.Sprint = %q", v)
	}
}

func TestMixedDeclsAndStatements(t *testing.T) {
	f := newFixture(t)
	v, _ := f.run("import \"strings\"\ntype P struct{ N int }\nfunc f(p P) int { return p.N * 2 }\np := P{4}\nn := f(p)\nimport \"fmt\"\nfmt.Sprint(strings.Repeat(\"a\", n))")
	if v != `"aaaaaaaa"` {
		t.Fatalf("got %q", v)
	}
}

func TestRepeatedImports(t *testing.T) {
	f := newFixture(t)
	f.run("import \"fmt\"")
	f.run("import \"fmt\"")
	f.run("import (\n\t\"fmt\"\n\t\"os\"\n)\n_ = os.Args\nfmt.Sprint(1)")
}

func TestModernGo(t *testing.T) {
	f := newFixture(t)
	if v, _ := f.run("min(3, 1, 2)"); v != "1" {
		t.Fatalf("min = %q", v)
	}
	if v, _ := f.run("max(2.5, 1.0)"); v != "2.5" {
		t.Fatalf("max = %q", v)
	}
	f.run("m := map[string]int{\"a\": 1}\nclear(m)")
	if v, _ := f.run("len(m)"); v != "0" {
		t.Fatalf("len after clear = %q", v)
	}
	f.run("s := []int{1, 2}\nclear(s)")
	if v, _ := f.run("s[0] + s[1]"); v != "0" {
		t.Fatalf("slice after clear = %q", v)
	}
	f.run("sum := 0\nfor i := range 5 { sum += i }")
	if v, _ := f.run("sum"); v != "10" {
		t.Fatalf("range over int: sum = %q", v)
	}
	f.run("n := 4\ncnt := 0\nfor range n { cnt++ }")
	if v, _ := f.run("cnt"); v != "4" {
		t.Fatalf("range over global int: %q", v)
	}
	f.run("var fs []func() int\nfor i := 0; i < 3; i++ { fs = append(fs, func() int { return i }) }")
	if v, _ := f.run("fs[0]() + fs[1]()*10 + fs[2]()*100"); v != "210" {
		t.Fatalf("per-iteration loop variables: %q", v)
	}
	f.run("fs = nil\nfor _, i := range []int{0, 1, 2} { fs = append(fs, func() int { return i }) }")
	if v, _ := f.run("fs[0]() + fs[1]()*10 + fs[2]()*100"); v != "210" {
		t.Fatalf("per-iteration range variables: %q", v)
	}
	f.run("var q any = 3\nkind := \"\"")
	f.run("switch v := q.(type) {\ncase int:\n\tkind = \"int\"\n\t_ = v\ndefault:\n\tkind = \"other\"\n}")
	if v, _ := f.run("kind"); v != `"int"` {
		t.Fatalf("type switch: %q", v)
	}
	// A func literal call must run once, not again on every later cell.
	f.run("calls := 0\nfunc() { calls++ }()")
	f.run("1")
	if v, _ := f.run("calls"); v != "1" {
		t.Fatalf("func literal ran %s times", v)
	}
}

func TestErrorsPointAtCellLines(t *testing.T) {
	f := newFixture(t)
	e := f.fail("x := 1\n_ = x\ny := undefinedThing")
	if e.Name != "CompileError" || !strings.Contains(strings.Join(e.Traceback, "\n"), "line 3") {
		t.Fatalf("%s %v", e.Name, e.Traceback)
	}
	e = f.fail("a := 1\nfunc g( {")
	if e.Name != "SyntaxError" || !strings.Contains(e.Value, "line 2") {
		t.Fatalf("%s %q", e.Name, e.Value)
	}
	e = f.fail("\n\npanic(\"boom\")")
	if e.Name != "Panic" || e.Value != "boom" || !strings.Contains(strings.Join(e.Traceback, "\n"), "line 3") {
		t.Fatalf("%s %q %v", e.Name, e.Value, e.Traceback)
	}
	if f.err.Len() != 0 {
		t.Fatalf("stderr got %q; a failing cell must produce exactly one error", f.err.String())
	}
	// The session still works.
	if v, _ := f.run("2+2"); v != "4" {
		t.Fatal(v)
	}
}

func TestInterrupt(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r := f.s.Exec(ctx, "for {}")
	if r.Err == nil || r.Err.Name != "Interrupted" || r.Err.Stuck {
		t.Fatalf("got %+v", r.Err)
	}
	if v, _ := f.run("3*3"); v != "9" {
		t.Fatal(v)
	}
}

func TestMagics(t *testing.T) {
	f := newFixture(t)
	f.run("z := 1")
	_, out := f.run("%reset")
	if !strings.Contains(out, "reset") {
		t.Fatalf("out %q", out)
	}
	f.fail("z")
	_, out = f.run("%time 1+1")
	if !strings.Contains(out, "Wall time") {
		t.Fatalf("%%time out %q", out)
	}
	f.run("%env ESA_TEST_MAGIC=yes")
	if v, _ := f.run("%env ESA_TEST_MAGIC"); v != `"yes"` {
		t.Fatalf("%%env = %q", v)
	}
	if e := f.fail("%bogus"); !strings.Contains(e.Value, "%reset") {
		t.Fatalf("unknown magic message %q", e.Value)
	}
}

func TestDisplayImport(t *testing.T) {
	f := newFixture(t)
	f.run("import \"display\"\nb := display.HTMLBundle(\"<b>x</b>\")")
	if v, _ := f.run("b[\"text/html\"]"); v != `"<b>x</b>"` {
		t.Fatalf("%q", v)
	}
}

func TestCompleteInspect(t *testing.T) {
	f := newFixture(t)
	f.run("import \"strings\"\n// counter counts.\nfunc counter() int { return 1 }\ntype Pt struct{ X, Y int }\npt := Pt{1, 2}")
	m, start, end := f.s.Complete("strings.Spl", 11)
	if start != 8 || end != 11 || !contains(m, "Split") || !contains(m, "SplitN") {
		t.Fatalf("%v %d %d", m, start, end)
	}
	if m, _, _ := f.s.Complete("co", 2); !contains(m, "counter") || !contains(m, "const") {
		t.Fatalf("%v", m)
	}
	if m, _, _ := f.s.Complete("pt.", 3); !contains(m, "X") {
		t.Fatalf("fields: %v", m)
	}
	if txt, ok := f.s.Inspect("counter()", 3); !ok || !strings.Contains(txt, "func counter() int") || !strings.Contains(txt, "counter counts") {
		t.Fatalf("%q", txt)
	}
	if txt, ok := f.s.Inspect("strings.Split", 10); !ok || !strings.Contains(txt, "func(string, string) []string") {
		t.Fatalf("%q", txt)
	}
}

func TestIsComplete(t *testing.T) {
	cases := map[string]string{
		"x := 1":             "complete",
		"func f() {":         "incomplete",
		"for i := 0; i < 3;": "incomplete",
		"`raw":               "incomplete",
		"x := )":             "invalid",
		"%time 1":            "complete",
		"if x {\n}\n}":       "invalid",
	}
	for code, want := range cases {
		if got, _ := IsComplete(code); got != want {
			t.Errorf("IsComplete(%q) = %s, want %s", code, got, want)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Inspect of a notebook API function shows its signature and its doc comment
// (from the generated tables, not a source tree).
func TestInspectShowsESADocs(t *testing.T) {
	f := newFixture(t)
	if r := f.s.Exec(context.Background(), `import "esa"`); r.Err != nil {
		t.Fatal(r.Err.Value)
	}
	text, ok := f.s.Inspect("esa.SelectTop", len("esa.SelectTop"))
	if !ok || !strings.Contains(text, "func(") || !strings.Contains(text, "selects the k highest scores") {
		t.Fatalf("inspect: %v %q", ok, text)
	}
	m, _, _ := f.s.Complete("esa.Sel", len("esa.Sel"))
	if !slices.Contains(m, "esa.SelectTop") && !slices.Contains(m, "SelectTop") {
		t.Fatalf("completion of esa.Sel: %v", m)
	}
}

// Compiled calls in a cell see the cell's context through display.Context,
// so the interrupt that cancels the cell reaches them; outside a cell it is
// the background context.
func TestCellContextReachesCompiledCode(t *testing.T) {
	f := newFixture(t)
	if r := f.s.Exec(context.Background(), `import "display"`); r.Err != nil {
		t.Fatal(r.Err.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	r := f.s.Exec(ctx, `if _, ok := display.Context().Deadline(); !ok { panic("the cell's context is not the one Exec was given") }`)
	if r.Err != nil {
		t.Fatalf("%s: %s", r.Err.Name, r.Err.Value)
	}
	live := f.s.Exec(context.Background(), `if display.Context().Err() != nil { panic("stale context") }`)
	if live.Err != nil {
		t.Fatalf("%s: %s", live.Err.Name, live.Err.Value)
	}
	if display.Context() != context.Background() {
		t.Fatal("display.Context not reset after the cell")
	}
}
