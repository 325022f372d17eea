package model

import (
	"fmt"
	"math"
	"sort"

	"esa/stdlib/backend"
)

// Mixtral: Hugging Face MixtralForCausalLM. The attention block is Llama's
// (llama.go); the MLP is a sparse mixture of experts:
//
//	z   = m·Wgateᵀ                       router logits [T, E], m = RMSNorm(h)
//	p   = softmax(z); K = top-k of p     (num_experts_per_tok; ties: lower expert first)
//	w_i = p_i / Σ_{j∈K} p_j              renormalised routing weights
//	out = Σ_{i∈K} w_i · w2_i(silu(w1_i·m) ⊙ w3_i·m)
//
// Each expert runs on the batch of tokens that chose it: their rows are
// gathered, multiplied and scattered back scaled by the routing weights.
// Backward: the experts a token chose get gradients scaled by its weight;
// the routing weights get dw_i = ⟨dout, expert_i(m)⟩, which flows through the
// renormalisation (dp_j = (dw_j − Σ_i dw_i w_i)/S for j ∈ K, 0 otherwise) and
// the softmax into the router. The auxiliary load-balancing loss is not part
// of the loss (Hugging Face adds it only with output_router_logits).
var mixtralFamily = family{
	embed: "model.embed_tokens.weight", norm: "model.norm", head: "lm_head.weight",
	layer: "model.layers.%d.",
	check: func(c Config, bad func(string, ...any)) {
		checkLlama(c, bad)
		if c.NumExperts <= 0 || c.ExpertsPerToken <= 0 || c.ExpertsPerToken > c.NumExperts {
			bad("mixtral needs 1 ≤ num_experts_per_tok (%d) ≤ num_local_experts (%d)", c.ExpertsPerToken, c.NumExperts)
		}
	},
	bind: func(m *Model, p string) layer {
		l := m.bindAttention(p)
		l.router = m.linear(p + "block_sparse_moe.gate")
		for e := 0; e < m.Config.NumExperts; e++ {
			x := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			l.experts = append(l.experts, expert{w1: m.linear(x + "w1"), w2: m.linear(x + "w2"), w3: m.linear(x + "w3")})
		}
		return l
	},
	forward:  (*Model).llamaForward,
	backward: (*Model).llamaBackward,
}

// moeActs are one layer's routing and its experts' inputs and outputs. The
// experts' rows lie in expert order in x, y and the layer's gate/up/h
// buffers (T·k rows in all): expert e's block starts at experts[e].off.
type moeActs struct {
	router  backend.Buffer // router logits [T, E]
	x, y    backend.Buffer // gathered inputs, unscaled outputs [T·k, D]
	p       []float64      // softmax over experts [T, E]
	sel     []int          // each token's chosen experts [T, k], most probable first
	w       []float64      // their renormalised weights [T, k]
	experts []routed
}

// routed is the batch of tokens one expert runs on.
type routed struct {
	off   int       // first row of the expert's block
	rows  []int     // the token of each row
	slot  []int     // which of the token's k choices this expert is
	scale []float64 // the token's routing weight for this expert
}

// block returns the expert's rows of b, a buffer of width values per row.
func (r *routed) block(be backend.Backend, b backend.Buffer, width int) backend.Buffer {
	return be.Slice(b, r.off*width, len(r.rows)*width)
}

func newMoEActs(be backend.Backend, c Config, T int) *moeActs {
	R := mlpRows(c, T)
	return &moeActs{router: be.Alloc(T * c.NumExperts), x: be.Alloc(R * c.Dim), y: be.Alloc(R * c.Dim),
		experts: make([]routed, c.NumExperts)}
}

// route computes the softmax over experts, each token's top k and their
// renormalised weights from the router logits z [T, E], and groups the
// tokens by expert.
func (mo *moeActs) route(z []float64, T, E, K int) {
	mo.p, mo.sel, mo.w = mo.p[:0], mo.sel[:0], mo.w[:0]
	order := make([]int, E)
	for t := 0; t < T; t++ {
		row := z[t*E : (t+1)*E]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		p := make([]float64, E)
		var s float64
		for i, v := range row {
			p[i] = math.Exp(v - mx)
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return p[order[a]] > p[order[b]] })
		var sk float64
		for _, e := range order[:K] {
			sk += p[e]
		}
		mo.p = append(mo.p, p...)
		for _, e := range order[:K] {
			mo.sel = append(mo.sel, e)
			mo.w = append(mo.w, p[e]/sk)
		}
	}
	for e := range mo.experts {
		r := &mo.experts[e]
		r.rows, r.slot, r.scale = r.rows[:0], r.slot[:0], r.scale[:0]
	}
	for i, e := range mo.sel {
		r := &mo.experts[e]
		r.rows, r.slot, r.scale = append(r.rows, i/K), append(r.slot, i%K), append(r.scale, mo.w[i])
	}
	off := 0
	for e := range mo.experts {
		mo.experts[e].off = off
		off += len(mo.experts[e].rows)
	}
}

// moeForward adds the mixture of experts of a.xn2 to out (which holds the
// residual stream).
func (m *Model) moeForward(be backend.Backend, ws *workspace, a *acts, lp *layer, l int, out backend.Buffer, hook Hook, T int) {
	c := m.Config
	D, F, E := c.Dim, c.Hidden, c.NumExperts
	mo := a.moe
	fire(hook, be, ws, l, SiteInput, a.xn2, T, D, nil, lp.router.param)
	lp.router.forward(be, mo.router, a.xn2, T, false)
	mo.route(hostValues(be, mo.router, T*E), T, E, c.ExpertsPerToken)
	for e := range lp.experts {
		ex, r := &lp.experts[e], &mo.experts[e]
		n := len(r.rows)
		if n == 0 {
			continue
		}
		x, y := r.block(be, mo.x, D), r.block(be, mo.y, D)
		g, u, h := r.block(be, a.gate, F), r.block(be, a.up, F), r.block(be, a.h, F)
		be.GatherRows(x, a.xn2, r.rows, nil, D)
		fire(hook, be, ws, l, SiteInput, x, n, D, r.rows, ex.w1.param, ex.w3.param)
		ex.w1.forward(be, g, x, n, false)
		ex.w3.forward(be, u, x, n, false)
		be.SwiGLU(h, g, u, n*F)
		fire(hook, be, ws, l, SiteInput, h, n, F, r.rows, ex.w2.param)
		ex.w2.forward(be, y, h, n, false)
		fire(hook, be, ws, l, SiteOutput, y, n, D, r.rows, ex.w2.param)
		be.ScatterAddRows(out, y, r.rows, r.scale, D)
	}
}

// moeBackward sets s.dxn to the gradient of the MoE block's input from the
// gradient of its output s.dres, and adds the experts' and the router's
// gradients into g.
func (m *Model) moeBackward(be backend.Backend, s *bwScratch, a *acts, lp *layer, g []backend.Buffer, T int) {
	c := m.Config
	D, F, E, K := c.Dim, c.Hidden, c.NumExperts, c.ExpertsPerToken
	mo := a.moe
	be.Zero(s.dxn)
	dw := make([]float64, T*K) // gradient of each routing weight
	for e := range lp.experts {
		ex, r := &lp.experts[e], &mo.experts[e]
		n := len(r.rows)
		if n == 0 {
			continue
		}
		x, y := r.block(be, mo.x, D), r.block(be, mo.y, D)
		g1, u, h := r.block(be, a.gate, F), r.block(be, a.up, F), r.block(be, a.h, F)
		dx, dy := r.block(be, s.dex, D), r.block(be, s.dey, D)
		dg, du, dh := r.block(be, s.dgate, F), r.block(be, s.dup, F), r.block(be, s.dh, F)

		dots := make([]float64, n)
		be.RowDots(dots, s.dres, y, r.rows, D)
		for i, d := range dots {
			dw[r.rows[i]*K+r.slot[i]] = d
		}
		be.GatherRows(dy, s.dres, r.rows, r.scale, D)
		ex.w2.backward(be, dh, dy, h, g, n, false)
		be.SwiGLUBackward(dg, du, dh, g1, u, n*F)
		ex.w1.backward(be, dx, dg, x, g, n, false)
		ex.w3.backward(be, dx, du, x, g, n, true)
		be.ScatterAddRows(s.dxn, dx, r.rows, nil, D)
	}

	// Routing weights → renormalisation → softmax → router logits.
	dz := make([]float64, T*E)
	dp := make([]float64, E)
	for t := 0; t < T; t++ {
		p, sel, w := mo.p[t*E:(t+1)*E], mo.sel[t*K:(t+1)*K], mo.w[t*K:(t+1)*K]
		var sk, dot float64
		for i, e := range sel {
			sk += p[e]
			dot += dw[t*K+i] * w[i]
		}
		clear(dp)
		for i, e := range sel {
			dp[e] = (dw[t*K+i] - dot) / sk
		}
		var pdp float64
		for e := range dp {
			pdp += p[e] * dp[e]
		}
		for e := range dp {
			dz[t*E+e] = p[e] * (dp[e] - pdp)
		}
	}
	setValues(be, s.dz, dz)
	lp.router.backward(be, s.dxn, s.dz, a.xn2, g, T, true)
}

// hostValues returns the first n values of b as float64, without rounding
// where the backend offers float64 transfers.
func hostValues(be backend.Backend, b backend.Buffer, n int) []float64 {
	out := make([]float64, n)
	if h, ok := be.(backend.Host64); ok {
		h.Download64(out, b)
		return out
	}
	v := make([]float32, n)
	be.Download(v, b)
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// setValues sets the first len(v) values of b.
func setValues(be backend.Backend, b backend.Buffer, v []float64) {
	if h, ok := be.(backend.Host64); ok {
		h.Upload64(b, v)
		return
	}
	w := make([]float32, len(v))
	for i, x := range v {
		w[i] = float32(x)
	}
	be.Upload(b, w)
}
