package session

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"

	"esa/stdlib/symbols"
)

func TestDeferArgumentsEvaluatedAtDefer(t *testing.T) {
	f := newFixture(t)
	_, out := f.run(`import "fmt"
func a() {
	x := 1
	defer fmt.Println("x", x)
	x = 2
}
func loop() {
	for i := 0; i < 3; i++ {
		defer fmt.Println("i", i)
	}
}
const c = 7
func consts() {
	var f32 float32
	defer func(v float32, n int) { fmt.Println("f32", v, n, f32) }(1.5, c)
	f32 = 3
}
a()
loop()
consts()`)
	want := "x 1\ni 2\ni 1\ni 0\nf32 1.5 7 3\n"
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	// A top-level defer and one whose sole argument is a call.
	_, out = f.run("import \"strings\"\nfunc b() { s := \"a\"; defer fmt.Println(strings.ToUpper(s)); s = \"b\" }\nb()")
	if out != "B\n" && out != "A\n" {
		t.Fatalf("sole call argument: %q", out)
	}
}

func TestRewriteDefersText(t *testing.T) {
	src := "func f(x int) {\n\tdefer g(x, 1, nil, math.Pi, k)\n\tx++\n}"
	segs, _, err := splitCell(src)
	if err != nil {
		t.Fatal(err)
	}
	isConst := func(n string) bool { return n == "math.Pi" || n == "k" }
	got := rewriteDefers(src, segs, isConst)
	want := "func f(x int) {\n\t__esaD1 := x; defer g(__esaD1, 1, nil, math.Pi, k)\n\tx++\n}"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Count(got, "\n") != strings.Count(src, "\n") {
		t.Fatal("the rewrite moved lines")
	}
}

func TestRedefinedTypeIsRefused(t *testing.T) {
	f := newFixture(t)
	f.run("type T struct{ A int }")
	f.run("// same definition, other layout\ntype T struct {\n\tA int // field\n}")
	e := f.fail("x := 1\ntype T struct{ A, B int }")
	if e.Name != "TypeRedefined" || !strings.Contains(e.Value, "line 2") {
		t.Fatalf("%s %q", e.Name, e.Value)
	}
	tb := strings.Join(e.Traceback, "\n")
	if !strings.Contains(tb, "%reset") || !strings.Contains(tb, "type T struct { A int }") {
		t.Fatalf("traceback %q", tb)
	}
	// Nothing of the refused cell ran.
	f.fail("x")
	f.run("%reset")
	f.run("type T struct{ A, B int }")
	if v, _ := f.run("T{1, 2}.B"); v != "2" {
		t.Fatal(v)
	}
}

func TestRangeOverIntOfUnknownType(t *testing.T) {
	f := newFixture(t)
	// Shown to be integers: a parameter, a field of a global, a call.
	f.run("func count(n int) int { c := 0; for range n { c++ }; return c }")
	if v, _ := f.run("count(3)"); v != "3" {
		t.Fatal(v)
	}
	f.run("type cfg struct{ N int }\nc := cfg{4}\nfunc five() int { return 5 }")
	f.run("s := 0\nfor i := range c.N { s += i }")
	if v, _ := f.run("s"); v != "6" {
		t.Fatalf("range over c.N: %s", v)
	}
	f.run("s = 0\nfor range five() { s++ }")
	if v, _ := f.run("s"); v != "5" {
		t.Fatalf("range over five(): %s", v)
	}
	// Ranging over slices and maps is untouched.
	f.run("xs := []int{4, 5}\ns = 0\nfor _, x := range xs { s += x }\nfor k := range map[int]bool{7: true} { s += k }")
	if v, _ := f.run("s"); v != "16" {
		t.Fatal(v)
	}
	// Not visible: a local of a struct type declared in the same function.
	e := f.fail("func g() int {\n\tv := cfg{2}\n\tt := 0\n\tfor i := range v.N { t += i }\n\treturn t\n}")
	if e.Name != "RangeError" || !strings.Contains(e.Value, "line 4") || !strings.Contains(strings.Join(e.Traceback, "\n"), "range int(v.N)") {
		t.Fatalf("%s %q %v", e.Name, e.Value, e.Traceback)
	}
	f.run("func g() int {\n\tv := cfg{2}\n\tt := 0\n\tfor i := range int(v.N) { t += i }\n\treturn t\n}")
	if v, _ := f.run("g()"); v != "1" {
		t.Fatal(v)
	}
}

// lineReader is a standard input that counts how often it was asked.
type lineReader struct {
	lines []string
	asked int
}

func (r *lineReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	r.asked++
	n := copy(p, r.lines[0]+"\n")
	r.lines = r.lines[1:]
	return n, nil
}

func TestStdinReaderIsCellsStdin(t *testing.T) {
	in := &lineReader{lines: []string{"gopher", "7"}}
	var out bytes.Buffer
	s, err := New(Options{Stdin: in, Stdout: &out, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Exec(context.Background(), "import (\"bufio\"; \"fmt\"; \"os\")\nline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\nvar n int\nfmt.Scan(&n)\nfmt.Sprint(line, n)")
	if r.Err != nil {
		t.Fatal(r.Err, r.Err.Traceback)
	}
	if r.Data["text/plain"] != `"gopher\n7"` || in.asked != 2 {
		t.Fatalf("%v (asked %d)", r.Data, in.asked)
	}
}

func TestInterruptBlockedChannel(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	r := f.s.Exec(ctx, "ch := make(chan int)\n<-ch")
	if r.Err == nil || r.Err.Name != "Interrupted" || r.Err.Stuck {
		t.Fatalf("%+v", r.Err)
	}
	if v, _ := f.run("1+1"); v != "2" {
		t.Fatal(v)
	}
}

func TestInterruptIgnoredByCompiledCodeIsStuck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var out bytes.Buffer
	s, err := New(Options{Stdout: &out, Stderr: io.Discard, Symbols: []interp.Exports{symbols.Exports(), {
		"block/block": {"Wait": reflect.ValueOf(func() { <-release })},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Grace = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	t0 := time.Now()
	r := s.Exec(ctx, "import \"block\"\nblock.Wait()")
	if r.Err == nil || !r.Err.Stuck {
		t.Fatalf("want a stuck interrupt, got %+v", r.Err)
	}
	if d := time.Since(t0); d < s.Grace {
		t.Fatalf("gave up after %v, before the grace period", d)
	}
}
