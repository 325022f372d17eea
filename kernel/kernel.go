// Package kernel is the Jupyter kernel: it speaks messaging protocol 5.3
// over ZeroMQ (go-zeromq/zmq4, pure Go) and evaluates cells in an engine
// child process (package engine) holding a yaegi session.
//
// Shell requests are handled one at a time on one goroutine; control
// (interrupt, shutdown) and heartbeat have their own goroutines, so they
// are served while a cell runs. Every request is bracketed by busy and idle
// status messages on iopub with the request as parent.
package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"esa/kernel/engine"
	"esa/kernel/wire"
	"esa/stdlib/display"
)

// Config configures a kernel.
type Config struct {
	Conn ConnectionInfo
	// EngineArgv starts the engine child (the esa binary and "kernel-engine").
	EngineArgv []string
	// Log receives diagnostics (dropped messages, engine restarts); nil: stderr.
	Log *log.Logger
	// Version is the implementation version reported in kernel_info.
	Version string
	// InterruptGrace is how long compiled code may ignore an interrupt
	// before the engine is replaced (0: engine.DefaultGrace).
	InterruptGrace time.Duration
}

// Kernel is a running kernel.
type Kernel struct {
	cfg     Config
	signer  *wire.Signer
	session string
	log     *log.Logger

	shell, control, stdin, iopub, hb zmq4.Socket

	pubMu sync.Mutex

	engMu    sync.Mutex
	eng      *engine.Engine
	engErr   error
	engReady chan struct{} // closed once the first engine started (or failed to)

	subscribed atomic.Bool // an iopub subscriber has been seen

	// current is the request whose cell is running; stream output from the
	// engine is published with it as parent.
	curMu   sync.Mutex
	current *wire.Message
	allowIn bool
	// intr is closed to interrupt the running execute request; set before
	// its execute_input is published, so that an interrupt sent as soon as
	// the frontend sees the cell start is never lost.
	intr     chan struct{}
	intrOnce *sync.Once

	count   int
	history []histEntry

	stdinMu      sync.Mutex  // one input_request at a time
	stdinReplies chan string // values of input_reply messages

	quit     chan struct{}
	quitOnce sync.Once
}

type histEntry struct {
	line   int
	input  string
	output string
}

// Run serves until a shutdown request or ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = log.New(os.Stderr, "esa kernel: ", log.LstdFlags)
	}
	signer, err := wire.NewSigner(cfg.Conn.SignatureScheme, []byte(cfg.Conn.Key))
	if err != nil {
		return err
	}
	k := &Kernel{cfg: cfg, signer: signer, session: wire.NewID(), log: cfg.Log, quit: make(chan struct{}),
		engReady: make(chan struct{}), stdinReplies: make(chan string, 1)}

	// The engine child starts while the sockets come up, and requests that
	// do not need it (kernel_info, is_complete, history, heartbeat) are
	// served before it is ready: start→ready does not wait for it.
	go func() {
		k.engErr = k.startEngine()
		close(k.engReady)
	}()

	defer func() {
		<-k.engReady
		k.engMu.Lock()
		if k.eng != nil {
			k.eng.Close()
		}
		k.engMu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k.shell = zmq4.NewRouter(ctx)
	k.control = zmq4.NewRouter(ctx)
	k.stdin = zmq4.NewRouter(ctx)
	k.iopub = zmq4.NewPub(ctx)
	k.hb = zmq4.NewRep(ctx)
	for _, s := range []struct {
		sock zmq4.Socket
		port int
	}{{k.shell, cfg.Conn.ShellPort}, {k.control, cfg.Conn.ControlPort}, {k.stdin, cfg.Conn.StdinPort},
		{k.iopub, cfg.Conn.IOPubPort}, {k.hb, cfg.Conn.HBPort}} {
		if err := s.sock.Listen(cfg.Conn.addr(s.port)); err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Conn.addr(s.port), err)
		}
	}
	defer func() {
		for _, s := range []zmq4.Socket{k.shell, k.control, k.stdin, k.iopub, k.hb} {
			s.Close()
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT)
	defer signal.Stop(sig)
	go func() {
		for {
			select {
			case <-sig:
				k.interrupt()
			case <-k.quit:
				return
			}
		}
	}()

	go k.heartbeat()
	go k.readStdin()
	go k.serve(k.control, true)
	go k.serve(k.shell, false)
	k.publishStatus(nil, "starting")
	select {
	case <-k.quit:
	case <-ctx.Done():
	}
	// Let the last replies and idle message leave.
	time.Sleep(20 * time.Millisecond)
	return nil
}

func (k *Kernel) startEngine() error {
	h := engine.Handlers{
		Stream: func(name, text string) {
			k.publish(k.parent(), "stream", map[string]any{"name": name, "text": text})
		},
		Display: func(o display.Output) { k.publishDisplay(k.parent(), o) },
		Input:   k.input,
	}
	e, err := engine.Start(engine.Config{Argv: k.cfg.EngineArgv, Handlers: h, Grace: k.cfg.InterruptGrace})
	if err != nil {
		return err
	}
	k.engMu.Lock()
	k.eng = e
	k.engMu.Unlock()
	return nil
}

// engine returns the running engine, waiting for the first one to start.
func (k *Kernel) engine() (*engine.Engine, error) {
	<-k.engReady
	k.engMu.Lock()
	defer k.engMu.Unlock()
	if k.eng == nil {
		return nil, fmt.Errorf("the execution engine could not start: %v", k.engErr)
	}
	return k.eng, nil
}

// restartEngine replaces a dead or stuck engine.
func (k *Kernel) restartEngine() error {
	k.engMu.Lock()
	old := k.eng
	k.engMu.Unlock()
	if old != nil {
		old.Kill()
	}
	k.log.Printf("restarting execution engine")
	return k.startEngine()
}

func (k *Kernel) parent() *wire.Message {
	k.curMu.Lock()
	defer k.curMu.Unlock()
	return k.current
}

// interrupt stops the running execute request, if any.
func (k *Kernel) interrupt() {
	k.curMu.Lock()
	ch, once := k.intr, k.intrOnce
	k.curMu.Unlock()
	if ch != nil {
		once.Do(func() { close(ch) })
	}
}

func (k *Kernel) heartbeat() {
	for {
		msg, err := k.hb.Recv()
		if err != nil {
			select {
			case <-k.quit:
				return
			default:
			}
			time.Sleep(time.Millisecond)
			continue
		}
		_ = k.hb.Send(msg)
	}
}

// serve reads one socket. Shell requests are queued so that, after a
// failing cell with stop_on_error, queued execute requests are aborted.
func (k *Kernel) serve(sock zmq4.Socket, isControl bool) {
	queue := make(chan *wire.Message, 1024)
	go func() {
		defer close(queue)
		for {
			zm, err := sock.Recv()
			if err != nil {
				select {
				case <-k.quit:
					return
				default:
				}
				k.log.Printf("recv: %v", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m, err := wire.Decode(zm.Frames, k.signer)
			if err != nil {
				// Never execute a message that fails verification.
				k.log.Printf("dropped message: %v", err)
				continue
			}
			queue <- m
		}
	}()
	for m := range queue {
		failed := k.handle(sock, m, isControl)
		if failed {
			k.abortQueued(sock, queue)
		}
	}
}

// abortQueued answers every execute request already queued with status
// "aborted" and handles the others normally.
func (k *Kernel) abortQueued(sock zmq4.Socket, queue chan *wire.Message) {
	for {
		select {
		case m, ok := <-queue:
			if !ok {
				return
			}
			if m.Header.MsgType == "execute_request" {
				k.publishStatus(m, "busy")
				k.reply(sock, m, "execute_reply", map[string]any{"status": "aborted", "execution_count": k.count})
				k.publishStatus(m, "idle")
				continue
			}
			k.handle(sock, m, false)
		default:
			return
		}
	}
}

// send signs and sends a message on sock.
func (k *Kernel) send(sock zmq4.Socket, ids [][]byte, parent *wire.Message, msgType string, content any, metadata any) {
	h, _ := json.Marshal(wire.NewHeader(msgType, k.session))
	ph := []byte("{}")
	if parent != nil {
		ph = parent.RawHeader
	}
	c, err := json.Marshal(content)
	if err != nil {
		c, _ = json.Marshal(map[string]any{"status": "error", "ename": "EncodeError", "evalue": err.Error(), "traceback": []string{err.Error()}})
	}
	md := []byte("{}")
	if metadata != nil {
		md, _ = json.Marshal(metadata)
	}
	frames := wire.Encode(ids, h, ph, md, c, nil, k.signer)
	// SendMulti writes all frames with one writev where zmq4 supports it
	// (PUB); Send would write each frame's header and body separately.
	if err := sock.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		k.log.Printf("send %s: %v", msgType, err)
	}
}

func (k *Kernel) reply(sock zmq4.Socket, req *wire.Message, msgType string, content any) {
	k.send(sock, req.Identities, req, msgType, content, nil)
}

func (k *Kernel) publish(parent *wire.Message, msgType string, content any) {
	k.waitSubscriber()
	k.pubMu.Lock()
	defer k.pubMu.Unlock()
	k.send(k.iopub, [][]byte{[]byte("kernel." + k.session + "." + msgType)}, parent, msgType, content, nil)
}

func (k *Kernel) publishStatus(parent *wire.Message, state string) {
	k.publish(parent, "status", map[string]any{"execution_state": state})
}

func (k *Kernel) publishDisplay(parent *wire.Message, o display.Output) {
	if o.Clear {
		k.publish(parent, "clear_output", map[string]any{"wait": o.Wait})
		return
	}
	md := o.Metadata
	if md == nil {
		md = map[string]any{}
	}
	c := map[string]any{"data": o.Data, "metadata": md, "transient": map[string]any{}}
	if o.DisplayID != "" {
		c["transient"] = map[string]any{"display_id": o.DisplayID}
	}
	t := "display_data"
	if o.Update {
		t = "update_display_data"
	}
	k.publish(parent, t, c)
}

// waitSubscriber holds the first iopub messages until a frontend has
// subscribed, at most subscriberWait. A PUB socket drops what it publishes
// before the subscription arrives, and a frontend connecting shell and iopub
// at the same time would then miss the status messages of its first
// kernel_info request: jupyter_client waits 0.2 s for them and asks again,
// which made start→ready hundreds of milliseconds slower.
func (k *Kernel) waitSubscriber() {
	if k.subscribed.Load() {
		return
	}
	t, ok := k.iopub.(zmq4.Topics)
	if !ok {
		k.subscribed.Store(true)
		return
	}
	deadline := time.Now().Add(subscriberWait)
	for len(t.Topics()) == 0 && time.Now().Before(deadline) {
		// zmq4 has no notification for subscriptions; this polls only until
		// the first subscriber of the kernel's life arrives.
		time.Sleep(200 * time.Microsecond)
	}
	k.subscribed.Store(true)
}

const subscriberWait = 500 * time.Millisecond

// readStdin receives the frontend's input_reply messages.
func (k *Kernel) readStdin() {
	for {
		zm, err := k.stdin.Recv()
		if err != nil {
			select {
			case <-k.quit:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m, err := wire.Decode(zm.Frames, k.signer)
		if err != nil {
			k.log.Printf("dropped stdin message: %v", err)
			continue
		}
		if m.Header.MsgType != "input_reply" {
			continue
		}
		var c struct {
			Value string `json:"value"`
		}
		_ = json.Unmarshal(m.Content, &c)
		// Keep only the newest value: a reply nobody waits for any more
		// must not answer the next request.
		select {
		case <-k.stdinReplies:
		default:
		}
		k.stdinReplies <- c.Value
	}
}

// input asks the frontend for a line on the stdin channel; ok is false when
// the running request does not allow input, or cancel closes first.
func (k *Kernel) input(prompt string, password bool, cancel <-chan struct{}) (string, bool) {
	p := k.parent()
	k.curMu.Lock()
	allowed := k.allowIn
	k.curMu.Unlock()
	if p == nil || !allowed {
		return "", false
	}
	k.stdinMu.Lock()
	defer k.stdinMu.Unlock()
	select {
	case <-k.stdinReplies: // stale
	default:
	}
	k.send(k.stdin, p.Identities, p, "input_request", map[string]any{"prompt": prompt, "password": password}, nil)
	select {
	case v := <-k.stdinReplies:
		return v, true
	case <-cancel:
		return "", false
	case <-k.quit:
		return "", false
	}
}

func (k *Kernel) shutdown() {
	k.quitOnce.Do(func() { close(k.quit) })
}
