package model

import "esa/stdlib/backend"

// Site values of HookEvent.
const (
	SiteInput  = "input"  // the input of a weight's matmul
	SiteOutput = "output" // the output of a down projection (see Model.DownProjs)
)

// HookEvent is one captured activation during a forward pass.
//
// Every linear layer reports its input, once per weight tensor, in forward
// order; the down projections (Model.DownProjs) also report their output,
// where super-weight spikes show. Per family:
//
//   - Llama, Mistral: q_proj, k_proj and v_proj each get an event carrying
//     the same X (their shared normed input), as do gate_proj and up_proj;
//     o_proj gets the attention output; down_proj gets silu(gate)·up and
//     reports its output (before the residual add).
//   - Phi-3: one event for the fused qkv_proj and one for the fused
//     gate_up_proj (their inputs are what q/k/v and gate/up share); o_proj
//     and down_proj as Llama.
//   - Mixtral: q/k/v/o as Llama; block_sparse_moe.gate (the router) gets
//     the normed input of every token; then, for each expert that received
//     tokens, w1 and w3 get the rows of those tokens (Tokens says which),
//     w2 gets silu(w1·x)·w3·x and reports its output before the routing
//     weight scales it. Experts no token chose report nothing.
//   - GPT-NeoX: attention.query_key_value, attention.dense,
//     mlp.dense_h_to_4h and mlp.dense_4h_to_h (input: the GELU output;
//     output: including its bias, before the residual add).
//
// The head (lm_head, embed_out, or the embedding when tied) gets the final
// normed hidden state, with Layer -1, last.
type HookEvent struct {
	Layer int    // decoder layer, or -1 for the head
	Param int    // index into Model.Params of the weight
	Site  string // SiteInput or SiteOutput
	// X is Rows×Cols row-major (tokens × features). It aliases the pass's
	// memory and is valid only during the call: copy what you keep.
	X          []float32
	Rows, Cols int
	// Tokens are the positions in the sequence of X's rows when they are a
	// subset (a Mixtral expert's tokens); nil means row r is position r.
	// Like X, it is valid only during the call.
	Tokens []int
}

// Hook receives activations; it runs on the pass's goroutine, in layer
// order, and must not call back into the same pass.
type Hook func(e HookEvent)

// fire calls hook on each distinct weight of params (a fused tensor bound
// to several roles reports once) with buf as X. Nothing is copied unless the
// backend's buffers are not host float32 memory.
func fire(hook Hook, be backend.Backend, ws *workspace, layer int, site string, buf backend.Buffer, rows, cols int, tokens []int, params ...int) {
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
	for i, p := range params {
		if i > 0 && p == params[i-1] {
			continue
		}
		hook(HookEvent{Layer: layer, Param: p, Site: site, X: x, Rows: rows, Cols: cols, Tokens: tokens})
	}
}
