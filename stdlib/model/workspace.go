package model

import (
	"runtime"

	"esa/stdlib/backend"
)

// acts are one decoder layer's activations that the backward needs.
type acts struct {
	rstd1, xn1 backend.Buffer // input_layernorm: 1/rms per row, normed input (q/k/v input)
	q, k, v    backend.Buffer // after RoPE for q and k
	probs      backend.Buffer // attention probabilities [heads, T, T] (kept passes only)
	att        backend.Buffer // attention output = o_proj input
	xmid       backend.Buffer // residual after attention
	rstd2, xn2 backend.Buffer // post_attention_layernorm
	gate, up   backend.Buffer // gate_proj and up_proj outputs
	h          backend.Buffer // silu(gate)·up = down_proj input
}

// workspace is all the memory one pass uses, sized for up to rows tokens.
// A kept workspace holds every layer's activations (for the backward); an
// inference one reuses a single set across layers. Workspaces are reused
// across passes, so activation memory is bounded by one sequence.
type workspace struct {
	rows int
	keep bool
	res  []backend.Buffer // residual stream entering each layer (+ final); 2 rotating when !keep
	acts []acts           // per layer when keep, one shared set otherwise
	mlp  backend.Buffer   // down_proj output (before the residual add)
	rstf backend.Buffer   // final norm 1/rms
	xnf  backend.Buffer   // final normed hidden state = head input
	lgt  backend.Buffer   // logits [rows, vocab]
	bw   *bwScratch
	hook []float32 // host copy for hooks on backends without host views
}

// bwScratch is the backward's gradient scratch, allocated on first use.
type bwScratch struct {
	dres, dxn, dh, dgate, dup, datt, dq, dk, dv backend.Buffer
}

func newWorkspace(be backend.Backend, c Config, rows int, keep bool) *workspace {
	D, F, V := c.Dim, c.Hidden, c.Vocab
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	ws := &workspace{rows: rows, keep: keep}
	nRes, nActs := 2, 1
	if keep {
		nRes, nActs = c.Layers+1, c.Layers
	}
	for i := 0; i < nRes; i++ {
		ws.res = append(ws.res, be.Alloc(rows*D))
	}
	for i := 0; i < nActs; i++ {
		a := acts{
			rstd1: be.Alloc(rows), xn1: be.Alloc(rows * D),
			q: be.Alloc(rows * qd), k: be.Alloc(rows * kvd), v: be.Alloc(rows * kvd),
			att: be.Alloc(rows * qd), xmid: be.Alloc(rows * D),
			rstd2: be.Alloc(rows), xn2: be.Alloc(rows * D),
			gate: be.Alloc(rows * F), up: be.Alloc(rows * F), h: be.Alloc(rows * F),
		}
		if keep {
			a.probs = be.Alloc(c.Heads * rows * rows)
		}
		ws.acts = append(ws.acts, a)
	}
	ws.mlp = be.Alloc(rows * D)
	ws.rstf = be.Alloc(rows)
	ws.xnf = be.Alloc(rows * D)
	ws.lgt = be.Alloc(rows * V)
	return ws
}

// layer returns the activations and the residual buffers in/out of layer l.
func (ws *workspace) layer(l int) (a *acts, in, out backend.Buffer) {
	if ws.keep {
		return &ws.acts[l], ws.res[l], ws.res[l+1]
	}
	return &ws.acts[0], ws.res[l%2], ws.res[(l+1)%2]
}

// final returns the residual stream after the last layer.
func (ws *workspace) final(layers int) backend.Buffer {
	if ws.keep {
		return ws.res[layers]
	}
	return ws.res[layers%2]
}

func (ws *workspace) scratch(be backend.Backend, c Config) *bwScratch {
	if ws.bw == nil {
		T := ws.rows
		D, F := c.Dim, c.Hidden
		qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		ws.bw = &bwScratch{
			dres: be.Alloc(T * D), dxn: be.Alloc(T * D),
			dh: be.Alloc(T * F), dgate: be.Alloc(T * F), dup: be.Alloc(T * F),
			datt: be.Alloc(T * qd), dq: be.Alloc(T * qd), dk: be.Alloc(T * kvd), dv: be.Alloc(T * kvd),
		}
	}
	return ws.bw
}

// take returns a spare workspace of the engine that fits, else a new one.
func (m *Model) take(e *engine, rows int, keep bool) *workspace {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, ws := range e.free {
		if ws.rows >= rows && (ws.keep || !keep) {
			e.free = append(e.free[:i], e.free[i+1:]...)
			return ws
		}
	}
	return newWorkspace(e.be, m.Config, rows, keep)
}

// give hands a workspace back for the next pass. The engine keeps one per
// core at most (passes running in parallel need one each); beyond that the
// smallest is dropped.
func (m *Model) give(e *engine, ws *workspace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(e.free) < runtime.GOMAXPROCS(0) {
		e.free = append(e.free, ws)
		return
	}
	small := 0
	for i, f := range e.free {
		if f.size() < e.free[small].size() {
			small = i
		}
	}
	if ws.size() > e.free[small].size() {
		e.free[small] = ws
	}
}

// size orders workspaces by what they can serve.
func (ws *workspace) size() int {
	if ws.keep {
		return 2 * ws.rows
	}
	return ws.rows
}

// DropWorkspaces releases the activation memory the model keeps for its next
// passes (one workspace per pass that ran concurrently, up to one per core).
func (m *Model) DropWorkspaces() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range []*engine{m.e32, m.e64} {
		if e != nil {
			e.free = nil
		}
	}
}
