package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/traefik/yaegi/interp"

	"esa/kernel/session"
	"esa/stdlib/display"
)

// Serve runs the child side: it reads requests from in (fd 3) and writes
// replies to out (fd 4) until in closes. Cell output goes to os.Stdout and
// os.Stderr, which the parent reads.
func Serve(in io.Reader, out io.Writer, symbols []interp.Exports) error {
	// Interrupts arrive as messages; a terminal's Ctrl-C must not kill us.
	signal.Ignore(syscall.SIGINT)
	// yaegi logs some internal errors with the log package; the kernel
	// reports them as cell errors instead.
	log.SetOutput(io.Discard)

	c := &child{enc: json.NewEncoder(out), inputs: make(chan string, 1)}
	sess, err := session.New(session.Options{
		Stdin:   &inputReader{c: c},
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Symbols: symbols,
	})
	if err != nil {
		return err
	}
	display.SetSink(func(o display.Output) {
		c.send(Reply{Op: "display", Output: &o}, true)
	})

	// Execution runs on its own goroutine so that interrupts and input
	// replies are read while a cell runs.
	work := make(chan Request, 16)
	var cancelMu sync.Mutex
	var cancel context.CancelFunc
	var running int64               // id of the exec request running now
	interrupted := map[int64]bool{} // interrupts that arrived before their exec started
	go func() {
		for r := range work {
			switch r.Op {
			case "exec":
				ctx, cf := context.WithCancel(context.Background())
				cancelMu.Lock()
				cancel, running = cf, r.ID
				if interrupted[r.ID] {
					delete(interrupted, r.ID)
					cf()
				}
				cancelMu.Unlock()
				res := sess.Exec(ctx, r.Code)
				cancelMu.Lock()
				cancel, running = nil, 0
				cancelMu.Unlock()
				cf()
				c.send(Reply{ID: r.ID, Op: "result", Data: res.Data, Error: res.Err, Page: res.Page}, true)
				if res.Err != nil && res.Err.Stuck {
					// The cell's compiled code is still running: the parent
					// replaces this process.
					return
				}
			case "complete":
				m, s, e := sess.Complete(r.Code, r.Cursor)
				c.send(Reply{ID: r.ID, Op: "result", Matches: m, Start: s, End: e}, false)
			case "inspect":
				t, ok := sess.Inspect(r.Code, r.Cursor)
				c.send(Reply{ID: r.ID, Op: "result", Found: ok, Text: t}, false)
			}
		}
	}()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		switch r.Op {
		case "interrupt":
			cancelMu.Lock()
			if cancel != nil && (r.ID == 0 || r.ID == running) {
				cancel()
			} else if r.ID != 0 {
				interrupted[r.ID] = true
			}
			cancelMu.Unlock()
		case "input_reply":
			select {
			case c.inputs <- r.Value:
			default:
			}
		default:
			work <- r
		}
	}
	close(work)
	return sc.Err()
}

type child struct {
	mu     sync.Mutex
	enc    *json.Encoder
	seq    atomic.Int64
	inputs chan string
}

// send writes a reply; with sync it first writes markers to fd 1 and 2.
func (c *child) send(r Reply, sync bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sync {
		r.Sync = c.seq.Add(1)
		m := marker(r.Sync)
		os.Stdout.Write(m)
		os.Stderr.Write(m)
	}
	_ = c.enc.Encode(r)
}

// inputReader serves fmt.Scan and friends in cells by asking the frontend
// (input_request on the stdin channel) for a line.
type inputReader struct {
	c   *child
	buf []byte
}

func (r *inputReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		r.c.send(Reply{Op: "input_request"}, true)
		v, ok := <-r.c.inputs
		if !ok {
			return 0, io.EOF
		}
		r.buf = []byte(v + "\n")
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
