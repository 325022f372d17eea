package model

import (
	"runtime"

	"esa/stdlib/backend"
)

// acts are one decoder layer's activations that the backward needs. Which
// are allocated depends on the family.
type acts struct {
	mean1, rstd1, xn1 backend.Buffer // first norm: mean (LayerNorm only), 1/rms or 1/std, output (q/k/v input)
	q, k, v           backend.Buffer // after RoPE for q and k
	probs             backend.Buffer // what Attention saves for its backward (kept passes only): the probabilities [heads, T, T], or less (backend.AttentionSaver)
	att               backend.Buffer // attention output = o_proj input
	xmid              backend.Buffer // residual after attention (GPT-NeoX: sequential residual only)
	mean2, rstd2, xn2 backend.Buffer // second norm
	gate, up, h       backend.Buffer // MLP: gate and up outputs, down input (GPT-NeoX: up = pre-GELU)
	moe               *moeActs       // Mixtral: routing and the experts' inputs and outputs
}

// workspace is all the memory one pass uses, sized for up to rows tokens.
// A kept workspace holds every layer's activations (for the backward); an
// inference one reuses a single set across layers. Workspaces are reused
// across passes, so activation memory is bounded by one sequence. Buffers
// may be longer than a pass needs: ops read the first rows·cols elements,
// and copies and adds of the residual stream slice their source to T rows.
type workspace struct {
	rows             int
	keep             bool
	res              []backend.Buffer // residual stream entering each layer (+ final); 2 rotating when !keep
	acts             []acts           // per layer when keep, one shared set otherwise
	qkv              backend.Buffer   // GPT-NeoX fused projection output [rows, 3·dim]
	attn             backend.Buffer   // GPT-NeoX attention branch output
	mlp              backend.Buffer   // down-projection output (before the residual add)
	meanf, rstf, xnf backend.Buffer   // final norm: mean (LayerNorm), 1/rms or 1/std, output = head input
	lgt              backend.Buffer   // logits [rows, vocab]
	bw               *bwScratch
	hook             []float32 // host copy for hooks on backends without host views
}

// bwScratch is the backward's gradient scratch, allocated on first use.
type bwScratch struct {
	dres, dxn, dh, dgate, dup, datt, dq, dk, dv backend.Buffer
	dqkv, dpar                                  backend.Buffer // GPT-NeoX: fused q/k/v gradient, parallel MLP input gradient
	dz, dex, dey                                backend.Buffer // Mixtral: router logits, experts' input and output gradients
}

// mlpRows is how many rows the MLP buffers need for T tokens: T, or for a
// mixture of experts T·k (each token runs through k experts).
func mlpRows(c Config, T int) int {
	if c.NumExperts > 0 {
		return T * c.ExpertsPerToken
	}
	return T
}

func newWorkspace(be backend.Backend, m *Model, rows int, keep bool) *workspace {
	c := m.Config
	D, F, V := c.Dim, c.Hidden, c.Vocab
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	neox := c.Architecture == "gpt_neox"
	R := mlpRows(c, rows)
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
			att:   be.Alloc(rows * qd),
			rstd2: be.Alloc(rows), xn2: be.Alloc(rows * D),
			up: be.Alloc(R * F), h: be.Alloc(R * F),
		}
		if keep {
			a.probs = be.Alloc(backend.AttentionSavedLen(be, c.Heads, rows, rows))
		}
		if !neox || !c.ParallelResidual {
			a.xmid = be.Alloc(rows * D)
		}
		if neox {
			a.mean1, a.mean2 = be.Alloc(rows), be.Alloc(rows)
		} else {
			a.gate = be.Alloc(R * F)
		}
		if c.NumExperts > 0 {
			a.moe = newMoEActs(be, c, rows)
		}
		ws.acts = append(ws.acts, a)
	}
	if neox {
		ws.qkv, ws.attn, ws.meanf = be.Alloc(rows*3*D), be.Alloc(rows*D), be.Alloc(rows)
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
		D, F, R := c.Dim, c.Hidden, mlpRows(c, T)
		qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
		s := &bwScratch{
			dres: be.Alloc(T * D), dxn: be.Alloc(T * D),
			dh: be.Alloc(R * F), dgate: be.Alloc(R * F), dup: be.Alloc(R * F),
			datt: be.Alloc(T * qd), dq: be.Alloc(T * qd), dk: be.Alloc(T * kvd), dv: be.Alloc(T * kvd),
		}
		if c.Architecture == "gpt_neox" {
			s.dqkv, s.dpar = be.Alloc(T*3*D), be.Alloc(T*D)
		}
		if c.NumExperts > 0 {
			s.dz, s.dex, s.dey = be.Alloc(T*c.NumExperts), be.Alloc(R*D), be.Alloc(R*D)
		}
		ws.bw = s
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
	return newWorkspace(e.be, m, rows, keep)
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
