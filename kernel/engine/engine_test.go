package engine

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"

	"esa/stdlib/display"
	"esa/stdlib/symbols"
)

// TestMain lets the test binary double as the engine process.
func TestMain(m *testing.M) {
	if os.Getenv("ESA_ENGINE_CHILD") == "1" {
		if err := ServeChild([]interp.Exports{symbols.Exports()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// event is one thing the engine handed the parent, in order.
type event struct{ kind, text string }

type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(kind, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Stream chunks are split arbitrarily: join neighbours of one stream.
	if n := len(r.events); n > 0 && r.events[n-1].kind == kind && kind != "display" {
		r.events[n-1].text += text
		return
	}
	r.events = append(r.events, event{kind, text})
}

func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func start(t *testing.T) (*Engine, *recorder) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e, err := Start(Config{Argv: []string{self}, Grace: time.Second, Handlers: Handlers{
		Stream:  func(name, text string) { rec.add(name, text) },
		Display: func(o display.Output) { rec.add("display", display.TextOf(o.Data)) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, rec
}

// Output written before the reply, by the interpreter and straight to the
// file descriptors, arrives complete and in order before Exec returns.
func TestOutputOrderAndCompleteness(t *testing.T) {
	e, rec := start(t)
	code := `import ("display"; "fmt"; "os"; "strings")
for i := 0; i < 200; i++ { fmt.Println("line", i) }
display.Text("shown")
os.NewFile(1, "fd1").Write([]byte(strings.Repeat("x", 100000) + "\n"))
fmt.Fprint(os.Stderr, "é")
os.NewFile(2, "fd2").Write([]byte("\xc3"))
os.NewFile(2, "fd2").Write([]byte("\xa9 done\n"))
fmt.Print("end")`
	rep, err := e.Exec(code, nil)
	if err != nil || rep.Error != nil {
		t.Fatalf("%v %+v", err, rep.Error)
	}
	ev := rec.take()
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	// Per stream, and relative to the display, order is exact; between
	// stdout and stderr it is not (two pipes, as in any Jupyter kernel).
	before, after := map[string]string{}, map[string]string{}
	seen := false
	for _, x := range ev {
		switch {
		case x.kind == "display":
			if seen || x.text != "shown" {
				t.Fatalf("display events %v", ev)
			}
			seen = true
		case seen:
			after[x.kind] += x.text
		default:
			before[x.kind] += x.text
		}
	}
	if !seen || before["stdout"] != b.String() || before["stderr"] != "" {
		t.Fatalf("before the display: %.100q", before)
	}
	if after["stdout"] != strings.Repeat("x", 100000)+"\nend" || after["stderr"] != "éé done\n" {
		t.Fatalf("after the display: %.100q", after)
	}
}

// A UTF-8 sequence split across writes is never split across stream
// messages.
func TestSplitRuneHeldBack(t *testing.T) {
	var got []string
	var mu sync.Mutex
	self, _ := os.Executable()
	e, err := Start(Config{Argv: []string{self}, Handlers: Handlers{Stream: func(name, text string) {
		mu.Lock()
		got = append(got, text)
		mu.Unlock()
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Exec("import (\"os\"; \"time\")\nos.Stdout.Write([]byte(\"a\\xe2\\x82\"))\ntime.Sleep(50 * time.Millisecond)\nos.Stdout.Write([]byte(\"\\xac b\"))", nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range got {
		if !strings.HasPrefix(s, "a") && !strings.HasPrefix(s, "€") {
			t.Fatalf("a message starts inside a character: %q", got)
		}
	}
	if strings.Join(got, "") != "a€ b" {
		t.Fatalf("%q", got)
	}
}

// A panic in a goroutine the cell started ends the process.
func TestCrashReportsDeath(t *testing.T) {
	e, rec := start(t)
	_, err := e.Exec("import (\"fmt\"; \"time\")\nfmt.Println(\"bye\")\ngo func() { panic(\"crash\") }()\ntime.Sleep(time.Second)", nil)
	if !IsDied(err) || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("want the engine's death, got %v", err)
	}
	ev := rec.take()
	if len(ev) != 2 || ev[0] != (event{"stdout", "bye\n"}) || ev[1].kind != "stderr" || !strings.Contains(ev[1].text, "panic: crash") {
		t.Fatalf("output before the crash, or the crash report, lost: %.300q", ev)
	}
	select {
	case <-e.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if _, err := e.Exec("1", nil); !IsDied(err) {
		t.Fatalf("a dead engine answered: %v", err)
	}
}

// An interrupt sent before the engine started the cell still stops it.
func TestInterruptBeforeStart(t *testing.T) {
	e, _ := start(t)
	intr := make(chan struct{})
	close(intr)
	rep, err := e.Exec("for {}", intr)
	if err != nil || rep.Error == nil || rep.Error.Name != "Interrupted" || rep.Error.Stuck {
		t.Fatalf("%v %+v", err, rep.Error)
	}
	if rep, err := e.Exec("6*7", nil); err != nil || rep.Data["text/plain"] != "42" {
		t.Fatalf("%v %+v", err, rep)
	}
}

func TestCompleteInspect(t *testing.T) {
	e, _ := start(t)
	e.Exec("import \"strings\"", nil)
	rep, err := e.Complete("strings.ToUp", 12)
	if err != nil || len(rep.Matches) == 0 || rep.Matches[0] != "ToUpper" || rep.Start != 8 {
		t.Fatalf("%v %+v", err, rep)
	}
	rep, err = e.Inspect("strings.ToUpper", 10)
	if err != nil || !rep.Found || !strings.Contains(rep.Text, "func(string) string") || !strings.Contains(rep.Text, "upper case") {
		t.Fatalf("%v %+v", err, rep)
	}
}
