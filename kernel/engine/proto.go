// Package engine runs a session in a child process (`esa kernel-engine`)
// so that a panic in a cell's goroutine, os.Exit, or compiled code that
// ignores an interrupt cannot take the kernel's Jupyter connection down.
//
// The child's stdout and stderr are pipes the parent forwards as stream
// output, so whatever compiled code writes to file descriptors 1 and 2 is
// seen. Requests travel on fd 3 and replies on fd 4 as JSON lines.
//
// Output keeps its order relative to replies. A cell's output is in the
// pipes before its result is written, and the parent, before it acts on a
// reply, empties both pipes itself (non-blocking reads under the lock the
// forwarding goroutines hold while they forward): a result costs two read
// calls, no handshake. A display, which comes in the middle of a cell's
// output, also needs what the cell writes after it held back: the child
// writes a numbered marker to both pipes before the display reply, and the
// parent forwards output only up to a marker until the display with that
// number has been forwarded.
package engine

import (
	"fmt"
	"strconv"
	"time"

	"esa/kernel/session"
	"esa/stdlib/display"
)

// Request is a parent-to-child message.
type Request struct {
	ID     int64  `json:"id,omitempty"`
	Op     string `json:"op"` // exec, complete, inspect, interrupt, input_reply
	Code   string `json:"code,omitempty"`
	Cursor int    `json:"cursor,omitempty"`

	// input_reply: the answer to input_request Seq; EOF when the frontend
	// does not allow input or the cell was interrupted while it waited.
	Seq   int64  `json:"seq,omitempty"`
	Value string `json:"value,omitempty"`
	EOF   bool   `json:"eof,omitempty"`
}

// Reply is a child-to-parent message.
type Reply struct {
	ID int64  `json:"id,omitempty"`
	Op string `json:"op"` // result, display, input_request

	// result of exec
	Data  map[string]any `json:"data,omitempty"`
	Error *session.Error `json:"error,omitempty"`
	Page  string         `json:"page,omitempty"`

	// result of complete
	Matches []string `json:"matches,omitempty"`
	Start   int      `json:"start,omitempty"`
	End     int      `json:"end,omitempty"`

	// result of inspect
	Found bool   `json:"found,omitempty"`
	Text  string `json:"text,omitempty"`

	// display, and the number of the marker written before it
	Output *display.Output `json:"output,omitempty"`
	Sync   int64           `json:"sync,omitempty"`

	// input_request
	Seq      int64  `json:"seq,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
	Password bool   `json:"password,omitempty"`
}

// A marker in the output pipes: NUL never occurs in text output, so it
// cannot be confused with what a cell prints.
const (
	markerPrefix = "\x00esa-sync:"
	markerMax    = 40 // longer than any marker: a NUL that starts none is text
)

func marker(n int64) []byte { return []byte(markerPrefix + strconv.FormatInt(n, 10) + "\x00") }

// graceEnv passes the interrupt grace period to the child.
const graceEnv = "ESA_ENGINE_GRACE"

// DefaultGrace is how long compiled code may keep running after an
// interrupt before the engine is declared stuck and replaced.
const DefaultGrace = 3 * time.Second

// ErrDied is returned for requests in flight when the child exits.
type ErrDied struct{ Status string }

func (e ErrDied) Error() string { return fmt.Sprintf("execution engine exited (%s)", e.Status) }
