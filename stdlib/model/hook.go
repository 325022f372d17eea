package model

import "esa/stdlib/backend"

// Site values of HookEvent.
const (
	SiteInput  = "input"  // the input of a weight's matmul
	SiteOutput = "output" // the output of a weight's matmul (mlp.down_proj only)
)

// HookEvent is one captured activation during a forward pass.
//
// Inputs are reported for every linear layer: q_proj, k_proj and v_proj
// each get an event carrying the same X (their shared normed input), as do
// gate_proj and up_proj; o_proj gets the attention output, down_proj gets
// silu(gate)·up, and the head (lm_head, or the embedding when tied) gets the
// final normed hidden state. down_proj also reports its output (before the
// residual add), where super-weight spikes show.
type HookEvent struct {
	Layer int    // decoder layer, or -1 for the head
	Param int    // index into Model.Params of the weight
	Site  string // SiteInput or SiteOutput
	// X is Rows×Cols row-major (tokens × features). It aliases the pass's
	// memory and is valid only during the call: copy what you keep.
	X          []float32
	Rows, Cols int
}

// Hook receives activations; it runs on the pass's goroutine, in layer
// order, and must not call back into the same pass.
type Hook func(e HookEvent)

// fire calls hook on each weight with buf as X. Nothing is copied unless the
// backend's buffers are not host float32 memory.
func fire(hook Hook, be backend.Backend, ws *workspace, layer int, site string, buf backend.Buffer, rows, cols int, params ...int) {
	if hook == nil {
		return
	}
	n := rows * cols
	x, ok := backend.HostF32(buf)
	if ok {
		x = x[:n:n]
	} else {
		if cap(ws.hook) < n {
			ws.hook = make([]float32, n)
		}
		x = ws.hook[:n:n]
		be.Download(x, buf)
	}
	for _, p := range params {
		hook(HookEvent{Layer: layer, Param: p, Site: site, X: x, Rows: rows, Cols: cols})
	}
}
