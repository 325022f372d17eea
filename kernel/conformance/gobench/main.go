// Command gobench measures Jupyter kernels with a client written in Go
// (go-zeromq), so that the numbers show the kernel's own cost rather than
// jupyter_client's (a Python client spends about 2 ms per request on its
// side: see kernel_info in bench.py). Kernels are named by kernelspec and
// measured in the same run:
//
//	go run ./kernel/conformance/gobench [-cells 1000] [-starts 7] esa='for {}' python3='while True: pass'
//
// Kernelspecs are looked up in $JUPYTER_PATH/kernels, ~/.local/share/jupyter/kernels,
// /usr/local/share/jupyter/kernels and /usr/share/jupyter/kernels.
//
// start->ready: from launching the kernel until its kernel_info reply and the
// request's idle status have arrived (the client redials every 10 ms, unlike
// libzmq's 100-200 ms). 6*7: from sending execute_request until both its
// execute_reply and idle status have arrived. interrupt: from sending
// interrupt_request for a running busy loop until its idle status.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"esa/kernel/wire"
)

func main() {
	cells := flag.Int("cells", 1000, "trivial cells to time")
	starts := flag.Int("starts", 7, "kernel starts to time")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: gobench [-cells N] [-starts N] KERNEL=BUSY_LOOP_CODE ...")
		os.Exit(2)
	}
	fmt.Printf("load average before: %s\n", loadavg())
	for _, spec := range flag.Args() {
		name, loop, ok := strings.Cut(spec, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "gobench: %q: want KERNEL=BUSY_LOOP_CODE\n", spec)
			os.Exit(2)
		}
		argv, err := kernelArgv(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gobench:", err)
			os.Exit(1)
		}
		if err := measure(name, argv, loop, *cells, *starts); err != nil {
			fmt.Fprintf(os.Stderr, "gobench: %s: %v\n", name, err)
			os.Exit(1)
		}
	}
	fmt.Printf("load average after: %s\n", loadavg())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// kernelArgv reads the argv of kernelspec name.
func kernelArgv(name string) ([]string, error) {
	var dirs []string
	for _, p := range filepath.SplitList(os.Getenv("JUPYTER_PATH")) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "kernels"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local/share/jupyter/kernels"))
	}
	dirs = append(dirs, "/usr/local/share/jupyter/kernels", "/usr/share/jupyter/kernels")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, name, "kernel.json"))
		if err != nil {
			continue
		}
		var spec struct {
			Argv []string `json:"argv"`
		}
		if err := json.Unmarshal(b, &spec); err != nil || len(spec.Argv) == 0 {
			return nil, fmt.Errorf("%s: bad kernel.json", filepath.Join(d, name))
		}
		return spec.Argv, nil
	}
	return nil, fmt.Errorf("kernelspec %q not found in %s", name, strings.Join(dirs, ", "))
}

type client struct {
	shell, control, iopub zmq4.Socket
	signer                *wire.Signer
	session               string
	iop, replies          chan *wire.Message
	cancel                func()
	cmd                   *exec.Cmd
	dir                   string
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start launches a kernel and waits until it is ready; it returns the time
// that took.
func start(argv []string) (*client, time.Duration, error) {
	p, err := freePorts(5)
	if err != nil {
		return nil, 0, err
	}
	dir, err := os.MkdirTemp("", "gobench")
	if err != nil {
		return nil, 0, err
	}
	conn := filepath.Join(dir, "kernel.json")
	b, _ := json.Marshal(map[string]any{"transport": "tcp", "ip": "127.0.0.1", "shell_port": p[0], "control_port": p[1],
		"stdin_port": p[2], "iopub_port": p[3], "hb_port": p[4], "key": "gobench", "signature_scheme": "hmac-sha256"})
	if err := os.WriteFile(conn, b, 0o600); err != nil {
		return nil, 0, err
	}
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "{connection_file}", conn)
	}
	signer, _ := wire.NewSigner("hmac-sha256", []byte("gobench"))
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{signer: signer, session: wire.NewID(), iop: make(chan *wire.Message, 4096),
		replies: make(chan *wire.Message, 16), cancel: cancel, dir: dir}
	t0 := time.Now()
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Stderr = nil // ipykernel's debugger warnings would clutter the table
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		cancel()
		return nil, 0, err
	}
	retry, forever := zmq4.WithDialerRetry(10*time.Millisecond), zmq4.WithDialerMaxRetries(-1)
	c.shell = zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity(c.session)), retry, forever)
	c.control = zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity(c.session+"-control")), retry, forever)
	c.iopub = zmq4.NewSub(ctx, retry, forever)
	for _, d := range []struct {
		s    zmq4.Socket
		port int
	}{{c.shell, p[0]}, {c.control, p[1]}, {c.iopub, p[3]}} {
		if err := d.s.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", d.port)); err != nil {
			c.stop()
			return nil, 0, err
		}
	}
	_ = c.iopub.SetOption(zmq4.OptionSubscribe, "")
	go c.pump(c.iopub, c.iop)
	go c.pump(c.shell, c.replies)
	deadline := time.Now().Add(60 * time.Second)
	for {
		id := c.send(c.shell, "kernel_info_request", map[string]any{})
		select {
		case <-c.replies:
		case <-time.After(time.Second):
			if time.Now().After(deadline) {
				c.stop()
				return nil, 0, fmt.Errorf("no kernel_info reply")
			}
			continue
		}
		if c.waitIdle(id, 200*time.Millisecond) {
			return c, time.Since(t0), nil
		}
	}
}

func (c *client) pump(s zmq4.Socket, out chan *wire.Message) {
	for {
		m, err := s.Recv()
		if err != nil {
			return
		}
		if msg, err := wire.Decode(m.Frames, c.signer); err == nil {
			out <- msg
		}
	}
}

func (c *client) stop() {
	c.send(c.control, "shutdown_request", map[string]any{"restart": false})
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.cancel()
	os.RemoveAll(c.dir)
}

func (c *client) send(s zmq4.Socket, msgType string, content any) string {
	h := wire.NewHeader(msgType, c.session)
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(content)
	_ = s.SendMulti(zmq4.NewMsgFrom(wire.Encode(nil, hb, []byte("{}"), []byte("{}"), cb, nil, c.signer)...))
	return h.MsgID
}

func (c *client) waitIdle(id string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.iop:
			var ph wire.Header
			_ = json.Unmarshal(m.ParentHeader, &ph)
			if ph.MsgID == id && m.Header.MsgType == "status" && strings.Contains(string(m.Content), `"idle"`) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func (c *client) execute(code string) error {
	id := c.send(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false})
	if !c.waitIdle(id, 60*time.Second) {
		return fmt.Errorf("no idle status after %q", code)
	}
	select {
	case <-c.replies:
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("no reply to %q", code)
	}
}

func measure(name string, argv []string, loop string, cells, starts int) error {
	var st []time.Duration
	for i := 0; i < starts; i++ {
		c, d, err := start(argv)
		if err != nil {
			return err
		}
		st = append(st, d)
		c.stop()
	}
	c, _, err := start(argv)
	if err != nil {
		return err
	}
	defer c.stop()
	for i := 0; i < 50; i++ {
		if err := c.execute("6*7"); err != nil {
			return err
		}
	}
	var lat []time.Duration
	for i := 0; i < cells; i++ {
		t0 := time.Now()
		if err := c.execute("6*7"); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	var intr []time.Duration
	for i := 0; i < 10; i++ {
		id := c.send(c.shell, "execute_request", map[string]any{"code": loop, "silent": false, "store_history": true,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false})
		time.Sleep(200 * time.Millisecond)
		t0 := time.Now()
		c.send(c.control, "interrupt_request", map[string]any{})
		if !c.waitIdle(id, 30*time.Second) {
			return fmt.Errorf("busy loop not interrupted")
		}
		intr = append(intr, time.Since(t0))
		<-c.replies
	}
	fmt.Printf("%-10s start->ready median %6.1f ms min %6.1f (n=%d) | 6*7 p50 %6.3f ms p99 %6.3f ms min %6.3f (n=%d) | interrupt median %5.1f ms max %5.1f\n",
		name, ms(pct(st, 50)), ms(pct(st, 0)), len(st), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 0)), len(lat),
		ms(pct(intr, 50)), ms(pct(intr, 100)))
	return nil
}

func pct(xs []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p/100*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
