// Package engine runs a session in a child process (`esa kernel-engine`)
// so that a panic in a cell's goroutine, os.Exit, or compiled code that
// ignores an interrupt cannot take the kernel's Jupyter connection down.
//
// The child's stdout and stderr are pipes the parent forwards as stream
// output, so whatever compiled code writes to file descriptors 1 and 2 is
// seen. Requests travel on fd 3 and replies on fd 4 as JSON lines. Before
// every reply that produces output the child writes a sync marker to fd 1
// and fd 2; the parent forwards the reply only after both markers arrived,
// so output keeps its order and is flushed before the execute reply.
package engine

import (
	"fmt"
	"strconv"

	"esa/kernel/session"
	"esa/stdlib/display"
)

// Request is a parent-to-child message.
type Request struct {
	ID     int64  `json:"id,omitempty"`
	Op     string `json:"op"` // exec, complete, inspect, interrupt, input_reply
	Code   string `json:"code,omitempty"`
	Cursor int    `json:"cursor,omitempty"`
	Value  string `json:"value,omitempty"` // input_reply
}

// Reply is a child-to-parent message.
type Reply struct {
	ID   int64  `json:"id,omitempty"`
	Op   string `json:"op"` // result, display, input_request
	Sync int64  `json:"sync,omitempty"`

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

	// display
	Output *display.Output `json:"output,omitempty"`

	// input_request
	Prompt   string `json:"prompt,omitempty"`
	Password bool   `json:"password,omitempty"`
}

// The sync marker: NUL bytes never occur in text output, so they cannot be
// confused with what a cell prints.
const markerPrefix = "\x00esa-sync:"

func marker(n int64) []byte { return []byte(markerPrefix + strconv.FormatInt(n, 10) + "\x00") }

// ErrDied is returned for requests in flight when the child exits.
type ErrDied struct{ Status string }

func (e ErrDied) Error() string { return fmt.Sprintf("execution engine exited (%s)", e.Status) }
