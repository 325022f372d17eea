package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"esa/kernel/session"
	"esa/stdlib/display"
)

// Handlers receive the child's output as it happens.
type Handlers struct {
	Stream  func(name, text string) // "stdout" or "stderr"
	Display func(o display.Output)  // display_data, update_display_data, clear_output
	// Input reads a line from the user for a cell reading standard input;
	// ok is false when the frontend does not allow input. It must give up
	// (return ok false) once cancel is closed: the cell ended or was
	// interrupted.
	Input func(prompt string, password bool, cancel <-chan struct{}) (line string, ok bool)
}

// Config starts an engine.
type Config struct {
	// Argv starts the child: the esa binary and "kernel-engine".
	Argv []string
	Handlers
	// Grace is how long compiled code may ignore an interrupt before the
	// engine counts as stuck (0: DefaultGrace). The child reports it; the
	// parent kills a child that has not answered a little later.
	Grace time.Duration
}

// Engine is the parent's handle on one child process.
type Engine struct {
	cmd   *exec.Cmd
	h     Handlers
	grace time.Duration
	in    io.WriteCloser

	wmu sync.Mutex // serialises writes to in
	enc *json.Encoder

	// outMu is held while output is read from a pipe and forwarded, so that
	// a reply handler holding it and finding both pipes empty knows that
	// everything the child wrote before the reply has been forwarded.
	outMu    sync.Mutex
	outs     [2]*outPipe
	buf      []byte
	released int64 // output past markers up to this number may be forwarded

	mu      sync.Mutex
	nextID  int64
	exec    *execState // the exec request in flight, nil when none
	waiting map[int64]chan Reply
	dead    error
	done    chan struct{} // closed when the child has exited and pipes are drained
}

// execState tracks the exec request in flight.
type execState struct {
	id          int64
	end         chan struct{} // closed when the request finished: pending input gives up
	interrupted chan struct{} // closed by Interrupt
	intrOnce    sync.Once
	endOnce     sync.Once
}

func (x *execState) finish() { x.endOnce.Do(func() { close(x.end) }) }

type outPipe struct {
	name    string
	f       *os.File
	rc      syscall.RawConn
	pending []byte
	eof     bool
}

// Start launches the child.
func Start(cfg Config) (*Engine, error) {
	h := cfg.Handlers
	if h.Stream == nil {
		h.Stream = func(string, string) {}
	}
	if h.Display == nil {
		h.Display = func(display.Output) {}
	}
	if h.Input == nil {
		h.Input = func(string, bool, <-chan struct{}) (string, bool) { return "", false }
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	e := &Engine{h: h, grace: grace, waiting: map[int64]chan Reply{}, done: make(chan struct{}), buf: make([]byte, 64<<10)}
	cmd := exec.Command(cfg.Argv[0], cfg.Argv[1:]...)
	cmd.Env = append(os.Environ(), "ESA_ENGINE_CHILD=1", graceEnv+"="+grace.String())
	// Own process group: a terminal's Ctrl-C reaches the kernel, which
	// forwards it as an interrupt, instead of killing the engine; and Kill
	// takes down processes a cell started along with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var closeAfter []*os.File
	fail := func(err error) (*Engine, error) {
		for _, f := range closeAfter {
			f.Close()
		}
		return nil, err
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closeAfter = append(closeAfter, r, w)
		}
		return
	}
	reqR, reqW, err := pipe()
	if err != nil {
		return fail(err)
	}
	repR, repW, err := pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := pipe()
	if err != nil {
		return fail(err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = []*os.File{reqR, repW}
	for i, p := range []struct {
		name string
		f    *os.File
	}{{"stdout", outR}, {"stderr", errR}} {
		rc, err := p.f.SyscallConn()
		if err != nil {
			return fail(err)
		}
		e.outs[i] = &outPipe{name: p.name, f: p.f, rc: rc}
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	for _, f := range []*os.File{reqR, repW, outW, errW} {
		f.Close()
	}
	e.cmd, e.in, e.enc = cmd, reqW, json.NewEncoder(reqW)

	var pumps sync.WaitGroup
	for _, p := range e.outs {
		pumps.Add(1)
		go func() { defer pumps.Done(); e.pump(p) }()
	}
	go func() {
		e.readReplies(repR)
		repR.Close()
		// No display reply will come any more: let all output through.
		e.release(math.MaxInt64)
		st := cmd.Wait()
		// A process the cell started may still hold the output pipes open:
		// do not wait for it for long.
		drained := make(chan struct{})
		go func() { pumps.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-drained
		}
		for _, p := range e.outs {
			p.f.Close()
		}
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
		if e.exec != nil {
			e.exec.finish()
		}
		e.mu.Unlock()
		close(e.done)
	}()
	return e, nil
}

// pump forwards one output pipe as it fills, until the child closes it.
func (e *Engine) pump(p *outPipe) {
	for {
		eof := false
		err := p.rc.Read(func(fd uintptr) bool {
			e.outMu.Lock()
			defer e.outMu.Unlock()
			eof = e.drainLocked(p, int(fd))
			return eof
		})
		if err != nil || eof {
			e.outMu.Lock()
			p.eof = true
			e.forwardLocked(p, true)
			e.outMu.Unlock()
			return
		}
	}
}

// drainLocked reads what p holds without blocking and forwards it; it
// reports whether the pipe reached end of file.
func (e *Engine) drainLocked(p *outPipe, fd int) (eof bool) {
	if p.eof {
		return true
	}
	for {
		n, err := syscall.Read(fd, e.buf)
		if n > 0 {
			p.pending = append(p.pending, e.buf[:n]...)
			if len(p.pending) >= 1<<20 {
				e.forwardLocked(p, false)
			}
			continue
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			e.forwardLocked(p, false)
			return false
		}
		p.eof = true
		e.forwardLocked(p, true)
		return true
	}
}

// forwardLocked passes on p's pending bytes up to the first marker of a
// display not yet forwarded; it keeps an incomplete UTF-8 sequence or
// marker at the end for the next read unless all is set.
func (e *Engine) forwardLocked(p *outPipe, all bool) {
	text := func(b []byte) {
		if len(b) > 0 {
			e.h.Stream(p.name, string(b))
		}
	}
	for len(p.pending) > 0 {
		i := bytes.IndexByte(p.pending, 0)
		if i < 0 {
			cut := len(p.pending)
			if !all {
				cut -= incompleteRune(p.pending)
			}
			text(p.pending[:cut])
			p.pending = append(p.pending[:0], p.pending[cut:]...)
			return
		}
		if i > 0 {
			text(p.pending[:i])
			p.pending = append(p.pending[:0], p.pending[i:]...)
		}
		// p.pending starts with NUL: a marker, the start of one, or text.
		end := bytes.IndexByte(p.pending[1:], 0) + 1
		head := p.pending
		if end > 0 {
			head = p.pending[:end+1]
		}
		isMarker := bytes.HasPrefix(head, []byte(markerPrefix)) || bytes.HasPrefix([]byte(markerPrefix), head)
		if isMarker && end == 0 && len(head) < markerMax && !all {
			return // the rest of the marker is still to come
		}
		n, err := int64(0), error(nil)
		if isMarker && end > 0 && len(head) > len(markerPrefix) {
			n, err = strconv.ParseInt(string(head[len(markerPrefix):end]), 10, 64)
		} else {
			err = strconv.ErrSyntax
		}
		if err != nil {
			text(p.pending[:1]) // a NUL the cell wrote
			p.pending = append(p.pending[:0], p.pending[1:]...)
			continue
		}
		if n > e.released {
			return // hold what follows until display n has been forwarded
		}
		p.pending = append(p.pending[:0], p.pending[len(head):]...)
	}
}

// incompleteRune is the length of an incomplete UTF-8 sequence ending b.
func incompleteRune(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return k
			}
			return 0
		}
	}
	return 0
}

// flushOutput forwards everything the child has written to its output
// pipes so far.
func (e *Engine) flushOutput() {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	for _, p := range e.outs {
		if !p.eof {
			_ = p.rc.Control(func(fd uintptr) { e.drainLocked(p, int(fd)) })
		}
		e.forwardLocked(p, true)
	}
}

// release lets output past marker n through.
func (e *Engine) release(n int64) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	if n > e.released {
		e.released = n
	}
	for _, p := range e.outs {
		e.forwardLocked(p, p.eof)
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
		e.flushOutput()
		switch rep.Op {
		case "display":
			if rep.Output != nil {
				e.h.Display(*rep.Output)
			}
			e.release(rep.Sync)
		case "input_request":
			e.mu.Lock()
			x := e.exec
			e.mu.Unlock()
			cancel := make(<-chan struct{})
			if x != nil {
				cancel = x.end
			} else {
				closed := make(chan struct{})
				close(closed)
				cancel = closed
			}
			// Waiting for the user must not hold up interrupts or the reply
			// of an interrupted cell.
			go func(seq int64, prompt string, pw bool) {
				v, ok := e.h.Input(prompt, pw, cancel)
				_ = e.send(Request{Op: "input_reply", Seq: seq, Value: v, EOF: !ok})
			}(rep.Seq, rep.Prompt, rep.Password)
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

// call sends a request and waits for its result. For an exec request,
// closing intr interrupts it, also before it has started.
func (e *Engine) call(r Request, intr <-chan struct{}) (Reply, error) {
	ch := make(chan Reply, 1)
	e.mu.Lock()
	if e.dead != nil {
		e.mu.Unlock()
		return Reply{}, e.dead
	}
	e.nextID++
	r.ID = e.nextID
	e.waiting[r.ID] = ch
	var x *execState
	if r.Op == "exec" {
		x = &execState{id: r.ID, end: make(chan struct{}), interrupted: make(chan struct{})}
		e.exec = x
		if intr != nil {
			go func() {
				select {
				case <-intr:
					e.interrupt(x)
				case <-x.end:
				}
			}()
		}
		defer func() {
			x.finish()
			e.mu.Lock()
			if e.exec == x {
				e.exec = nil
			}
			e.mu.Unlock()
		}()
	}
	e.mu.Unlock()
	if err := e.send(r); err != nil {
		<-e.done
		return Reply{}, e.Err()
	}
	if x == nil {
		rep, ok := <-ch
		if !ok {
			return Reply{}, e.Err()
		}
		return rep, nil
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			return Reply{}, e.Err()
		}
		return rep, nil
	case <-x.interrupted:
	}
	// Interrupted: the child answers within its grace period, stuck or not;
	// a child that cannot even do that is killed.
	x.finish()
	watchdog := time.NewTimer(e.grace + 2*time.Second)
	defer watchdog.Stop()
	select {
	case rep, ok := <-ch:
		if !ok {
			return Reply{}, e.Err()
		}
		return rep, nil
	case <-watchdog.C:
		e.Kill()
		return Reply{ID: r.ID, Op: "result", Error: &session.Error{Name: "Interrupted", Value: "cell interrupted",
			Traceback: []string{"Interrupted: the cell was stopped",
				"the execution engine did not answer within " + (e.grace + 2*time.Second).String() + " of the interrupt"},
			Stuck: true}}, nil
	}
}

// Err is why the child died, nil while it runs.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dead
}

// Exec runs a cell; output arrives through the handlers before it returns.
// Closing intr (nil: never) interrupts the cell, even when that happens
// before the request reached the engine. A reply whose Error is Stuck means
// the engine must be replaced.
func (e *Engine) Exec(code string, intr <-chan struct{}) (Reply, error) {
	return e.call(Request{Op: "exec", Code: code}, intr)
}

// Interrupt cancels the exec request in flight, also when it has been sent
// but not started yet; without one it does nothing.
func (e *Engine) Interrupt() error {
	e.mu.Lock()
	x := e.exec
	e.mu.Unlock()
	if x == nil {
		return nil
	}
	return e.interrupt(x)
}

func (e *Engine) interrupt(x *execState) error {
	var err error
	x.intrOnce.Do(func() {
		err = e.send(Request{Op: "interrupt", ID: x.id})
		close(x.interrupted)
	})
	return err
}

// Complete asks for completions at byte offset cursor.
func (e *Engine) Complete(code string, cursor int) (Reply, error) {
	return e.call(Request{Op: "complete", Code: code, Cursor: cursor}, nil)
}

// Inspect asks for documentation at byte offset cursor.
func (e *Engine) Inspect(code string, cursor int) (Reply, error) {
	return e.call(Request{Op: "inspect", Code: code, Cursor: cursor}, nil)
}

// Kill ends the child, and processes it started, and waits for it.
func (e *Engine) Kill() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
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

// Pid is the child's process id.
func (e *Engine) Pid() int { return e.cmd.Process.Pid }

// IsDied reports whether err says the child died.
func IsDied(err error) bool {
	var d ErrDied
	return errors.As(err, &d)
}

// graceFromEnv reads the grace period the parent passed.
func graceFromEnv() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(graceEnv)); err == nil && d > 0 {
		return d
	}
	return DefaultGrace
}
