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

// ServeChild is the engine process's main: it serves the requests and
// replies on the descriptors the parent set up (3 and 4).
func ServeChild(symbols []interp.Exports) error {
	// Requests are read through the runtime's poller: a goroutine blocked
	// in read(2) would hold on to its processor, and a cell spinning in
	// interpreted code on the other one would then delay the interrupt
	// until the runtime takes the processor back (up to 10 ms).
	if err := syscall.SetNonblock(3, true); err != nil {
		return err
	}
	return Serve(os.NewFile(3, "engine-requests"), os.NewFile(4, "engine-replies"), symbols)
}

// Serve runs the child side: it reads requests from in (fd 3) and writes
// replies to out (fd 4) until in closes. Cell output goes to os.Stdout and
// os.Stderr, which the parent reads; a cell reading os.Stdin (or calling
// fmt.Scan) asks the parent for a line, which asks the frontend.
func Serve(in io.Reader, out io.Writer, symbols []interp.Exports) error {
	// Interrupts arrive as messages; a terminal's Ctrl-C must not kill us.
	signal.Ignore(syscall.SIGINT)
	// yaegi logs some internal errors with the log package; the kernel
	// reports them as cell errors instead.
	log.SetOutput(io.Discard)

	c := &child{enc: json.NewEncoder(out), inputs: make(chan Request, 4)}
	sess, err := session.New(session.Options{
		Stdin:   &inputReader{c: c},
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Symbols: symbols,
	})
	if err != nil {
		return err
	}
	sess.Grace = graceFromEnv()
	display.SetSink(c.display)
	// Compile and run a trivial cell now, while the kernel is still
	// connecting, so that the first real cell does not pay for warming up.
	sess.Warm()

	sv := &server{c: c, sess: sess, sc: bufio.NewScanner(in), token: make(chan struct{}, 1),
		interrupted: map[int64]bool{}, done: make(chan struct{})}
	sv.sc.Buffer(make([]byte, 1<<20), 64<<20)
	sv.token <- struct{}{}
	sv.spawn()
	<-sv.done
	close(c.inputs)
	return sv.err
}

// server reads requests and runs them. Whichever goroutine holds the token
// reads the next request; a goroutine that reads an exec, complete or
// inspect request first hands the token on (to an idle goroutine, or a new
// one) and then runs the request itself. So interrupts and input replies
// are read while a cell runs, and a request starts running on the
// goroutine that read it, without waiting for another one to wake up.
type server struct {
	c    *child
	sess *session.Session
	sc   *bufio.Scanner

	token chan struct{} // held by the goroutine whose turn it is to read
	idle  atomic.Int32  // goroutines waiting for the token

	workMu sync.Mutex // requests run one at a time, in the order read
	stuck  atomic.Bool

	cancelMu    sync.Mutex
	cancel      context.CancelFunc
	running     int64          // id of the exec request running now
	interrupted map[int64]bool // interrupts that arrived before their exec started

	doneOnce sync.Once
	done     chan struct{} // closed when the request pipe has ended
	err      error
}

func (sv *server) spawn() {
	sv.idle.Add(1)
	go sv.loop()
}

func (sv *server) loop() {
	for {
		select {
		case <-sv.token:
		case <-sv.done:
			return
		}
		sv.idle.Add(-1)
		for {
			if !sv.sc.Scan() {
				sv.doneOnce.Do(func() { sv.err = sv.sc.Err(); close(sv.done) })
				return
			}
			var r Request
			if err := json.Unmarshal(sv.sc.Bytes(), &r); err != nil {
				continue
			}
			if r.Op == "interrupt" || r.Op == "input_reply" {
				sv.control(r)
				continue // keep reading
			}
			// Hand reading on before running the request.
			if sv.idle.Load() == 0 {
				sv.spawn()
			}
			sv.token <- struct{}{}
			sv.run(r)
			break
		}
		sv.idle.Add(1)
	}
}

// control handles the requests that act on the running cell.
func (sv *server) control(r Request) {
	switch r.Op {
	case "interrupt":
		sv.cancelMu.Lock()
		if sv.cancel != nil && (r.ID == 0 || r.ID == sv.running) {
			sv.cancel()
		} else if r.ID != 0 {
			sv.interrupted[r.ID] = true
		}
		sv.cancelMu.Unlock()
	case "input_reply":
		select {
		case sv.c.inputs <- r:
		default: // nobody asked: drop it
		}
	}
}

func (sv *server) run(r Request) {
	sv.workMu.Lock()
	defer sv.workMu.Unlock()
	if sv.stuck.Load() {
		// A cell's compiled code is still running: the parent replaces
		// this process and must not get answers from it meanwhile.
		return
	}
	c := sv.c
	switch r.Op {
	case "exec":
		ctx, cf := context.WithCancel(context.Background())
		sv.cancelMu.Lock()
		sv.cancel, sv.running = cf, r.ID
		if sv.interrupted[r.ID] {
			delete(sv.interrupted, r.ID)
			cf()
		}
		sv.cancelMu.Unlock()
		c.cellCtx.Store(&ctx)
		res := sv.sess.Exec(ctx, r.Code)
		sv.cancelMu.Lock()
		sv.cancel, sv.running = nil, 0
		sv.cancelMu.Unlock()
		cf()
		if res.Err != nil && res.Err.Stuck {
			sv.stuck.Store(true)
		}
		c.send(Reply{ID: r.ID, Op: "result", Data: res.Data, Error: res.Err, Page: res.Page})
	case "complete":
		m, s, e := sv.sess.Complete(r.Code, r.Cursor)
		c.send(Reply{ID: r.ID, Op: "result", Matches: m, Start: s, End: e})
	case "inspect":
		t, ok := sv.sess.Inspect(r.Code, r.Cursor)
		c.send(Reply{ID: r.ID, Op: "result", Found: ok, Text: t})
	}
}

type child struct {
	mu      sync.Mutex
	enc     *json.Encoder
	inputs  chan Request
	seq     atomic.Int64                    // input requests
	marks   int64                           // markers written, under mu
	cellCtx atomic.Pointer[context.Context] // context of the running (or last) cell
}

// send writes a reply. Output the cell wrote before is already in the
// stdout/stderr pipes, which the parent empties before acting on it.
func (c *child) send(r Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.enc.Encode(r)
}

// display sends a display after a marker in both output pipes, so that
// the parent holds back what the cell writes after it.
func (c *child) display(o display.Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marks++
	m := marker(c.marks)
	os.Stdout.Write(m)
	os.Stderr.Write(m)
	_ = c.enc.Encode(Reply{Op: "display", Output: &o, Sync: c.marks})
}

// inputReader is a cell's standard input (os.Stdin, fmt.Scan): each time
// it runs dry it asks the frontend for a line (input_request on the stdin
// channel). It reports end of file when the frontend does not allow input,
// and when the cell is interrupted while waiting.
type inputReader struct {
	c   *child
	mu  sync.Mutex
	buf []byte
}

func (r *inputReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) == 0 {
		var done <-chan struct{}
		if ctx := r.c.cellCtx.Load(); ctx != nil {
			done = (*ctx).Done()
		}
		seq := r.c.seq.Add(1)
		r.c.send(Reply{Op: "input_request", Seq: seq})
		for {
			select {
			case v, ok := <-r.c.inputs:
				if !ok {
					return 0, io.EOF // the engine is shutting down
				}
				if v.Seq != seq {
					continue // the answer to an earlier, abandoned request
				}
				if v.EOF {
					return 0, io.EOF
				}
				r.buf = []byte(v.Value + "\n")
			case <-done:
				return 0, io.EOF
			}
			break
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
