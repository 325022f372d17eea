package kernel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// interruptCell starts code, interrupts it once it runs, and returns the
// result; it fails the test when the reply takes longer than within.
func (c *client) interruptCell(code string, within time.Duration) (execResult, time.Duration) {
	c.t.Helper()
	id := c.send(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false})
	for started := false; !started; {
		select {
		case m := <-c.iopubMsgs:
			started = parentID(m) == id && m.Header.MsgType == "execute_input"
		case <-time.After(10 * time.Second):
			c.t.Fatal("cell never started")
		}
	}
	time.Sleep(100 * time.Millisecond) // let it get going
	t0 := time.Now()
	c.send(c.control, "interrupt_request", map[string]any{})
	c.recv(c.control, 5*time.Second)
	r := c.finish(id, within)
	return r, time.Since(t0)
}

func checkRestarted(t *testing.T, c *client, r execResult) {
	t.Helper()
	tb := ""
	if len(r.errors) == 1 {
		b, _ := json.Marshal(r.errors[0]["traceback"])
		tb = string(b)
	}
	if r.reply["status"] != "error" || r.reply["ename"] != "Interrupted" || !strings.Contains(tb, "restarted") ||
		!strings.Contains(tb, "gone") {
		t.Fatalf("want an Interrupted error saying the engine was restarted and state lost, got %+v (traceback %s)", r.reply, tb)
	}
	// The kernel answers, on a fresh engine: earlier values are gone.
	if r := c.execute("6*7", 10*time.Second); r.result != "42" {
		t.Fatalf("after restart: %+v", r)
	}
	if r := c.execute("x", 10*time.Second); r.reply["status"] != "error" {
		t.Fatalf("x survived the restart: %+v", r)
	}
}

// Compiled code that ignores the interrupt: the engine reports itself stuck
// after the grace period and the kernel replaces it.
func TestStuckCompiledCodeRestartsEngine(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	c.execute("x := 41", 10*time.Second)
	r, took := c.interruptCell("import \"esatest\"\nesatest.Spin(60)", 20*time.Second)
	if took < testGrace {
		t.Fatalf("gave up after %v, before the grace period %v", took, testGrace)
	}
	checkRestarted(t, c, r)
}

// An engine that cannot answer at all (stopped by a signal): the kernel's
// watchdog kills it.
func TestFrozenEngineIsKilled(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	c.execute("x := 41", 10*time.Second)
	r, _ := c.interruptCell("import \"esatest\"\nesatest.Freeze()", 20*time.Second)
	checkRestarted(t, c, r)
}

// A cell reading os.Stdin and fmt.Scan gets lines through input_request.
func TestStdinInputRequest(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	code := "import (\"bufio\"; \"fmt\"; \"os\")\nline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\nvar n int\nfmt.Scan(&n)\nfmt.Sprintf(\"%q %d\", line, n)"
	id := c.send(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": true, "stop_on_error": true})
	for _, answer := range []string{"hello gopher", "42"} {
		m := c.recv(c.stdin, 10*time.Second)
		if m.Header.MsgType != "input_request" || parentID(m) != id {
			t.Fatalf("got %s for %s", m.Header.MsgType, parentID(m))
		}
		c.send(c.stdin, "input_reply", map[string]any{"value": answer, "status": "ok"})
	}
	r := c.finish(id, 10*time.Second)
	if r.result != `"\"hello gopher\\n\" 42"` {
		t.Fatalf("%+v", r)
	}
	// Without allow_stdin, reading gets end of file at once.
	r = c.execute("import \"io\"\ndata, err := io.ReadAll(os.Stdin)\nfmt.Sprint(len(data), err)", 10*time.Second)
	if r.result != `"0 <nil>"` {
		t.Fatalf("reading stdin without allow_stdin: %+v", r)
	}
}

// Interrupting a cell that waits for input ends the wait.
func TestInterruptWhileWaitingForInput(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	c.execute("x := 1", 10*time.Second)
	id := c.send(c.shell, "execute_request", map[string]any{"code": "import \"fmt\"\nvar s string\nfmt.Scan(&s)", "silent": false,
		"store_history": true, "user_expressions": map[string]any{}, "allow_stdin": true, "stop_on_error": true})
	if m := c.recv(c.stdin, 10*time.Second); m.Header.MsgType != "input_request" {
		t.Fatalf("got %s", m.Header.MsgType)
	}
	c.send(c.control, "interrupt_request", map[string]any{})
	c.recv(c.control, 5*time.Second)
	r := c.finish(id, 5*time.Second)
	if r.reply["status"] != "error" {
		t.Fatalf("%+v", r.reply)
	}
	// State survived: no restart was needed.
	if r := c.execute("x + 1", 10*time.Second); r.result != "2" {
		t.Fatalf("%+v", r)
	}
}
