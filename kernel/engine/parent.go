package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"esa/stdlib/display"
)

// Handlers receive the child's output as it happens.
type Handlers struct {
	Stream  func(name, text string)    // "stdout" or "stderr"
	Display func(o display.Output)     // display_data, update_display_data, clear_output
	Input   func(prompt string) string // read a line from the user ("" when not allowed)
}

// Engine is the parent's handle on one child process.
type Engine struct {
	cmd *exec.Cmd
	h   Handlers
	in  io.WriteCloser

	wmu sync.Mutex // serialises writes to in
	enc *json.Encoder

	mu      sync.Mutex
	nextID  int64
	execID  int64 // the exec request in flight, 0 when none
	waiting map[int64]chan Reply
	synced  [2]int64      // last marker seen on stdout, stderr
	changed chan struct{} // closed and replaced when synced changes
	dead    error
	done    chan struct{} // closed when the child has exited and pipes are drained
}

// Start launches the child: argv[0] with argv[1:] (e.g. the esa binary and
// "kernel-engine").
func Start(argv []string, h Handlers) (*Engine, error) {
	if h.Stream == nil {
		h.Stream = func(string, string) {}
	}
	if h.Display == nil {
		h.Display = func(display.Output) {}
	}
	e := &Engine{h: h, waiting: map[int64]chan Reply{}, changed: make(chan struct{}), done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "ESA_ENGINE_CHILD=1")
	// Own process group: a terminal's Ctrl-C reaches the kernel, which
	// forwards it as an interrupt, instead of killing the engine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{reqR, repW}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	reqR.Close()
	repW.Close()
	e.cmd, e.in, e.enc = cmd, reqW, json.NewEncoder(reqW)

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); e.pump(stdout, 0, "stdout") }()
	go func() { defer pumps.Done(); e.pump(stderr, 1, "stderr") }()
	go func() {
		e.readReplies(repR)
		pumps.Wait()
		st := cmd.Wait()
		status := "exit status 0"
		if st != nil {
			status = st.Error()
		}
		e.mu.Lock()
		e.dead = ErrDied{status}
		for id, ch := range e.waiting {
			close(ch)
			delete(e.waiting, id)
		}
		close(e.changed)
		e.changed = make(chan struct{})
		e.mu.Unlock()
		close(e.done)
	}()
	return e, nil
}

// pump forwards one output pipe, cutting out sync markers.
func (e *Engine) pump(r io.Reader, idx int, name string) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for len(pending) > 0 {
			i := bytes.IndexByte(pending, 0)
			if i < 0 {
				// Keep an incomplete UTF-8 sequence for the next read.
				cut := len(pending)
				for k := 1; k <= 3 && k <= len(pending); k++ {
					if utf8.RuneStart(pending[len(pending)-k]) {
						if !utf8.FullRune(pending[len(pending)-k:]) {
							cut = len(pending) - k
						}
						break
					}
				}
				if err != nil {
					cut = len(pending)
				}
				if cut > 0 {
					e.h.Stream(name, string(pending[:cut]))
				}
				pending = append(pending[:0], pending[cut:]...)
				break
			}
			if i > 0 {
				e.h.Stream(name, string(pending[:i]))
				pending = pending[i:]
				continue
			}
			// pending starts with NUL: a marker, possibly incomplete.
			end := bytes.IndexByte(pending[1:], 0)
			if end < 0 {
				if len(pending) > 64 || err != nil { // not a marker: pass it on
					e.h.Stream(name, string(pending[:1]))
					pending = pending[1:]
					continue
				}
				break
			}
			m := pending[:end+2]
			if bytes.HasPrefix(m, []byte(markerPrefix)) {
				if k, perr := strconv.ParseInt(string(m[len(markerPrefix):len(m)-1]), 10, 64); perr == nil {
					e.mu.Lock()
					e.synced[idx] = k
					close(e.changed)
					e.changed = make(chan struct{})
					e.mu.Unlock()
				}
			} else {
				e.h.Stream(name, string(m))
			}
			pending = pending[len(m):]
		}
		if err != nil {
			return
		}
	}
}

// waitSync waits until both output pipes have passed marker k, so that the
// output a cell wrote before a reply is forwarded before it.
func (e *Engine) waitSync(k int64) {
	if k == 0 {
		return
	}
	timeout := time.NewTimer(2 * time.Second)
	defer timeout.Stop()
	for {
		e.mu.Lock()
		ok := (e.synced[0] >= k && e.synced[1] >= k) || e.dead != nil
		ch := e.changed
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			return // a cell closed its stdout: do not hang
		}
	}
}

func (e *Engine) readReplies(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var rep Reply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			continue
		}
		e.waitSync(rep.Sync)
		switch rep.Op {
		case "display":
			if rep.Output != nil {
				e.h.Display(*rep.Output)
			}
		case "input_request":
			v := ""
			if e.h.Input != nil {
				v = e.h.Input(rep.Prompt)
			}
			e.send(Request{Op: "input_reply", Value: v})
		case "result":
			e.mu.Lock()
			ch := e.waiting[rep.ID]
			delete(e.waiting, rep.ID)
			e.mu.Unlock()
			if ch != nil {
				ch <- rep
			}
		}
	}
}

func (e *Engine) send(r Request) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.enc.Encode(r)
}

// call sends a request and waits for its result.
func (e *Engine) call(r Request) (Reply, error) {
	ch := make(chan Reply, 1)
	e.mu.Lock()
	if e.dead != nil {
		e.mu.Unlock()
		return Reply{}, e.dead
	}
	e.nextID++
	r.ID = e.nextID
	e.waiting[r.ID] = ch
	if r.Op == "exec" {
		e.execID = r.ID
		defer func() {
			e.mu.Lock()
			e.execID = 0
			e.mu.Unlock()
		}()
	}
	e.mu.Unlock()
	if err := e.send(r); err != nil {
		<-e.done
		return Reply{}, e.Err()
	}
	rep, ok := <-ch
	if !ok {
		return Reply{}, e.Err()
	}
	return rep, nil
}

// Err is why the child died, nil while it runs.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dead
}

// Exec runs a cell; output arrives through the handlers before it returns.
func (e *Engine) Exec(code string) (Reply, error) { return e.call(Request{Op: "exec", Code: code}) }

// Interrupt cancels the exec request in flight, also when it has been sent
// but not started yet; without one it does nothing.
func (e *Engine) Interrupt() error {
	e.mu.Lock()
	id := e.execID
	e.mu.Unlock()
	if id == 0 {
		return nil
	}
	return e.send(Request{Op: "interrupt", ID: id})
}

// Complete asks for completions at byte offset cursor.
func (e *Engine) Complete(code string, cursor int) (Reply, error) {
	return e.call(Request{Op: "complete", Code: code, Cursor: cursor})
}

// Inspect asks for documentation at byte offset cursor.
func (e *Engine) Inspect(code string, cursor int) (Reply, error) {
	return e.call(Request{Op: "inspect", Code: code, Cursor: cursor})
}

// Kill ends the child and waits for it.
func (e *Engine) Kill() {
	_ = e.cmd.Process.Kill()
	e.in.Close()
	<-e.done
}

// Close asks the child to exit (closing its request pipe) and waits a
// moment before killing it.
func (e *Engine) Close() {
	e.in.Close()
	select {
	case <-e.done:
	case <-time.After(500 * time.Millisecond):
		e.Kill()
	}
}

// Done is closed when the child has exited.
func (e *Engine) Done() <-chan struct{} { return e.done }

// IsDied reports whether err says the child died.
func IsDied(err error) bool {
	var d ErrDied
	return errors.As(err, &d)
}
