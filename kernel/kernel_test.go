package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/traefik/yaegi/interp"

	"esa/kernel/bind"
	"esa/kernel/engine"
	"esa/kernel/wire"
	"esa/stdlib/symbols"
)

// testOnly is a compiled package only the tests' engine offers cells: code
// that ignores interrupts, as a long computation in a compiled library
// would.
var testOnly = interp.Exports{"esatest/esatest": {
	// Spin keeps a processor busy for the given seconds, deaf to interrupts.
	"Spin": reflect.ValueOf(func(seconds float64) {
		end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
		for time.Now().Before(end) {
		}
	}),
	// Freeze stops the whole engine process (SIGSTOP): it cannot even
	// answer, which only the kernel's watchdog can deal with. The stop can
	// take effect after kill returns (another thread may be the one to
	// start it), so the cell waits rather than finish first.
	"Freeze": reflect.ValueOf(func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		time.Sleep(time.Hour)
	}),
}}

// TestMain lets the test binary double as the engine child process.
func TestMain(m *testing.M) {
	if os.Getenv("ESA_ENGINE_CHILD") == "1" {
		if err := engine.ServeChild([]interp.Exports{symbols.Exports(), testOnly}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freePorts(t testing.TB, n int) []int {
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// client is a minimal Jupyter frontend over real zmq sockets.
type client struct {
	t                     testing.TB
	shell, control, iopub zmq4.Socket
	stdin                 zmq4.Socket // same identity as shell: input_request is routed by it
	hb                    zmq4.Socket
	signer                *wire.Signer
	session               string
	iopubMsgs             chan *wire.Message
}

func startKernel(t testing.TB) (*client, func()) {
	t.Helper()
	p := freePorts(t, 5)
	ci := ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: p[0], ControlPort: p[1], StdinPort: p[2],
		IOPubPort: p[3], HBPort: p[4], Key: "test-key", SignatureScheme: "hmac-sha256"}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Bind the ports early from a connection file, as `esa kernel` does
	// during initialization; Run must take those sockets.
	cf := filepath.Join(t.TempDir(), "kernel.json")
	b, _ := json.Marshal(ci)
	if err := os.WriteFile(cf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bind.Early(cf)
	if n := bind.Count(); n != 5 {
		t.Fatalf("%d ports bound early, want 5", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Conn: ci, EngineArgv: []string{self}, Log: testLog(), Version: "test",
			InterruptGrace: testGrace})
	}()
	signer, _ := wire.NewSigner("hmac-sha256", []byte(ci.Key))
	c := &client{t: t, signer: signer, session: wire.NewID(), iopubMsgs: make(chan *wire.Message, 4096)}
	cctx, ccancel := context.WithCancel(context.Background())
	c.shell = zmq4.NewDealer(cctx, zmq4.WithID(zmq4.SocketIdentity("shell-"+c.session)))
	c.control = zmq4.NewDealer(cctx, zmq4.WithID(zmq4.SocketIdentity("ctl-"+c.session)))
	c.stdin = zmq4.NewDealer(cctx, zmq4.WithID(zmq4.SocketIdentity("shell-"+c.session)))
	c.iopub = zmq4.NewSub(cctx)
	c.hb = zmq4.NewReq(cctx)
	dial := func(s zmq4.Socket, port int) {
		var err error
		for i := 0; i < 100; i++ {
			if err = s.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", port)); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("dial %d: %v", port, err)
	}
	dial(c.shell, p[0])
	dial(c.control, p[1])
	dial(c.stdin, p[2])
	dial(c.iopub, p[3])
	dial(c.hb, p[4])
	_ = c.iopub.SetOption(zmq4.OptionSubscribe, "")
	go func() {
		for {
			m, err := c.iopub.Recv()
			if err != nil {
				return
			}
			if msg, err := wire.Decode(m.Frames, c.signer); err == nil {
				c.iopubMsgs <- msg
			}
		}
	}()
	// Wait until iopub is connected: kernel_info until its status arrives.
	deadline := time.Now().Add(10 * time.Second)
	for {
		id := c.send(c.shell, "kernel_info_request", map[string]any{})
		r := c.recv(c.shell, 5*time.Second)
		if r.Header.MsgType != "kernel_info_reply" {
			t.Fatalf("got %s", r.Header.MsgType)
		}
		if c.waitIdle(id, 200*time.Millisecond) {
			break
		}
		if n := bind.Count(); n != 0 {
			t.Fatalf("%d early-bound ports not used", n)
		}
		if time.Now().After(deadline) {
			t.Fatal("iopub never delivered status")
		}
	}
	return c, func() {
		c.send(c.control, "shutdown_request", map[string]any{"restart": false})
		c.recv(c.control, 5*time.Second)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("kernel did not stop after shutdown_request")
		}
		cancel()
		ccancel()
	}
}

func (c *client) send(s zmq4.Socket, msgType string, content any) string {
	h := wire.NewHeader(msgType, c.session)
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(content)
	frames := wire.Encode(nil, hb, []byte("{}"), []byte("{}"), cb, nil, c.signer)
	if err := s.Send(zmq4.NewMsgFrom(frames...)); err != nil {
		c.t.Fatal(err)
	}
	return h.MsgID
}

func (c *client) recv(s zmq4.Socket, timeout time.Duration) *wire.Message {
	c.t.Helper()
	ch := make(chan *wire.Message, 1)
	go func() {
		m, err := s.Recv()
		if err != nil {
			ch <- nil
			return
		}
		msg, err := wire.Decode(m.Frames, c.signer)
		if err != nil {
			c.t.Errorf("bad reply: %v", err)
		}
		ch <- msg
	}()
	select {
	case m := <-ch:
		if m == nil {
			c.t.Fatal("recv failed")
		}
		return m
	case <-time.After(timeout):
		c.t.Fatal("no reply")
	}
	return nil
}

func parentID(m *wire.Message) string {
	var h wire.Header
	_ = json.Unmarshal(m.ParentHeader, &h)
	return h.MsgID
}

// waitIdle drains iopub until the idle status of request id.
func (c *client) waitIdle(id string, timeout time.Duration) bool {
	_, ok := c.collect(id, timeout)
	return ok
}

// collect returns the iopub messages of request id up to its idle status.
func (c *client) collect(id string, timeout time.Duration) ([]*wire.Message, bool) {
	var out []*wire.Message
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.iopubMsgs:
			if parentID(m) != id {
				continue
			}
			out = append(out, m)
			if m.Header.MsgType == "status" && strings.Contains(string(m.Content), "idle") {
				return out, true
			}
		case <-deadline:
			return out, false
		}
	}
}

type execResult struct {
	reply  map[string]any
	stdout string
	stderr string
	result string
	errors []map[string]any
	types  []string
}

func (c *client) execute(code string, timeout time.Duration) execResult {
	c.t.Helper()
	id := c.send(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true})
	return c.finish(id, timeout)
}

// finish collects the reply and iopub messages of execute request id.
func (c *client) finish(id string, timeout time.Duration) execResult {
	c.t.Helper()
	rep := c.recv(c.shell, timeout)
	var r execResult
	_ = json.Unmarshal(rep.Content, &r.reply)
	msgs, ok := c.collect(id, timeout)
	if !ok {
		c.t.Fatalf("no idle status for request %s", id)
	}
	for _, m := range msgs {
		r.types = append(r.types, m.Header.MsgType)
		var content map[string]any
		_ = json.Unmarshal(m.Content, &content)
		switch m.Header.MsgType {
		case "stream":
			if content["name"] == "stdout" {
				r.stdout += content["text"].(string)
			} else {
				r.stderr += content["text"].(string)
			}
		case "execute_result":
			r.result = content["data"].(map[string]any)["text/plain"].(string)
		case "error":
			r.errors = append(r.errors, content)
		}
	}
	return r
}

func TestExecuteProtocol(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	r := c.execute("6*7", 10*time.Second)
	if r.reply["status"] != "ok" || r.result != "42" || r.reply["execution_count"].(float64) != 1 {
		t.Fatalf("%+v", r)
	}
	if r.types[0] != "status" || r.types[1] != "execute_input" || r.types[len(r.types)-1] != "status" {
		t.Fatalf("message order %v", r.types)
	}
	r = c.execute("import \"fmt\"\nimport \"os\"\nfmt.Println(\"out\")\nfmt.Fprintln(os.Stderr, \"err\")", 10*time.Second)
	if r.stdout != "out\n" || r.stderr != "err\n" || r.result != "" {
		t.Fatalf("%+v", r)
	}
	// Compiled code writing to file descriptor 1 directly.
	r = c.execute("os.NewFile(1, \"fd1\").Write([]byte(\"raw fd\\n\"))", 10*time.Second)
	if !strings.Contains(r.stdout, "raw fd") {
		t.Fatalf("fd 1 output lost: %+v", r)
	}
	r = c.execute("x := 1\n\nundefinedName", 10*time.Second)
	if r.reply["status"] != "error" || len(r.errors) != 1 || !strings.Contains(fmt.Sprint(r.errors[0]["traceback"]), "line 3") {
		t.Fatalf("%+v", r)
	}
	r = c.execute("import \"display\"\nd := display.New()\nd.Text(\"a\")\nd.Text(\"b\")", 10*time.Second)
	if !contains(r.types, "display_data") || !contains(r.types, "update_display_data") {
		t.Fatalf("display types %v", r.types)
	}
}

func TestPanicInGoroutineRestartsEngine(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	c.execute("x := 41", 10*time.Second)
	r := c.execute("import \"time\"\ngo func() { panic(\"from goroutine\") }()\ntime.Sleep(time.Second)", 20*time.Second)
	if r.reply["status"] != "error" || r.errors[0]["ename"] != "EngineDied" {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.stderr, "from goroutine") {
		t.Fatalf("panic message not shown: %q", r.stderr)
	}
	r = c.execute("6*7", 10*time.Second)
	if r.result != "42" {
		t.Fatalf("kernel not answering after engine crash: %+v", r)
	}
}

var interruptCycles = 100

// testGrace is the kernel's interrupt grace period in tests, short so that
// the stuck-engine tests finish quickly.
const testGrace = time.Second

func TestInterruptCycles(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	for i := 0; i < interruptCycles; i++ {
		t0 := time.Now()
		id := c.send(c.shell, "execute_request", map[string]any{"code": "for {}", "silent": false, "store_history": true,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false})
		// Wait until the cell is running (its execute_input was published).
		for started := false; !started; {
			select {
			case m := <-c.iopubMsgs:
				started = parentID(m) == id && m.Header.MsgType == "execute_input"
			case <-time.After(10 * time.Second):
				t.Fatal("cell never started")
			}
		}
		c.send(c.control, "interrupt_request", map[string]any{})
		if r := c.recv(c.control, 5*time.Second); r.Header.MsgType != "interrupt_reply" {
			t.Fatalf("got %s", r.Header.MsgType)
		}
		rep := c.recv(c.shell, 10*time.Second)
		var content map[string]any
		_ = json.Unmarshal(rep.Content, &content)
		if content["status"] != "error" || content["ename"] != "Interrupted" {
			t.Fatalf("cycle %d: %v", i, content)
		}
		c.waitIdle(id, 5*time.Second)
		if testing.Verbose() && i < 5 {
			t.Logf("cycle %d: %v", i, time.Since(t0))
		}
	}
	if r := c.execute("6*7", 10*time.Second); r.result != "42" {
		t.Fatalf("after interrupts: %+v", r)
	}
	// Heartbeat still answers.
	if err := c.hb.Send(zmq4.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	if m, err := c.hb.Recv(); err != nil || string(m.Frames[0]) != "ping" {
		t.Fatalf("heartbeat: %v %v", m, err)
	}
}

func TestBadSignatureDropped(t *testing.T) {
	c, stop := startKernel(t)
	defer stop()
	bad, _ := wire.NewSigner("hmac-sha256", []byte("wrong"))
	good := c.signer
	c.signer = bad
	c.send(c.shell, "execute_request", map[string]any{"code": "panic(1)"})
	c.signer = good
	r := c.execute("1+1", 10*time.Second)
	if r.result != "2" || r.reply["execution_count"].(float64) != 1 {
		t.Fatalf("forged message was executed or kernel stuck: %+v", r)
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

func testLog() *log.Logger {
	if os.Getenv("ESA_KERNEL_TEST_LOG") != "" {
		return log.New(os.Stderr, "kernel: ", log.Lmicroseconds)
	}
	return log.New(io.Discard, "", 0)
}
