package model

import (
	"fmt"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// A family is what differs between the architectures this package runs:
// the Hugging Face names of the embedding, final norm and untied head, the
// config rules, how a layer's tensors bind to the roles of the forward, and
// the forward and backward themselves.
//
//	llama, mistral  llama.go    separate projections; Mistral's sliding window is a config value
//	phi3            phi3.go     the Llama decoder on row views of the fused qkv_proj and gate_up_proj
//	mixtral         mixtral.go  the Llama decoder with a sparse mixture-of-experts MLP
//	gpt_neox        gpt_neox.go LayerNorm, fused per-head qkv, partial rotary, GELU, parallel residual
//
// The first four run llama_forward.go and llama_backward.go.
type family struct {
	embed, norm, head string // embedding weight, final norm prefix, untied head weight
	layer             string // layer prefix, a format of the layer number
	// check adds what cfg must satisfy beyond the common rules of normalize.
	check func(c Config, bad func(format string, a ...any))
	// bind returns the roles of the layer with prefix p.
	bind     func(m *Model, p string) layer
	forward  func(m *Model, be backend.Backend, ws *workspace, rope *ropeTable, ids []int, pos0 int, kv *kvCache, hook Hook, lastOnly bool)
	backward func(m *Model, be backend.Backend, ws *workspace, rope *ropeTable, ids []int, dlogits backend.Buffer, g []backend.Buffer)
}

// families maps Config.Architecture to its family.
var families = map[string]*family{
	"llama":    &llamaFamily,
	"mistral":  &llamaFamily,
	"phi3":     &phi3Family,
	"mixtral":  &mixtralFamily,
	"gpt_neox": &neoxFamily,
}

// linear is one projection y = x·wᵀ (+ b) of a layer.
type linear struct {
	w     *tensor.Tensor // the weight, or a view of a block of rows of a fused one (Phi-3)
	param int            // index of the weight's parameter in Model.Params
	row0  int            // first row of w within the parameter
	b     *tensor.Tensor // the bias, or nil
	bias  int            // index of the bias in Model.Params, or -1
}

// forward sets out = x·wᵀ + b, or adds it to out when accumulate.
func (l *linear) forward(be backend.Backend, out, x backend.Buffer, rows int, accumulate bool) {
	be.MatMul(out, x, l.w, rows, accumulate)
	if l.b != nil {
		be.AddBias(out, l.b, rows, l.w.Rows())
	}
}

// backward adds the weight and bias gradients into g (the weight's into its
// block of rows of the parameter's gradient) and sets dx = dout·w, or adds
// it when accumulateDX.
func (l *linear) backward(be backend.Backend, dx, dout, x backend.Buffer, g []backend.Buffer, rows int, accumulateDX bool) {
	dw := be.Slice(g[l.param], l.row0*l.w.Cols(), l.w.Len())
	be.MatMulBackward(dx, dw, dout, x, l.w, rows, accumulateDX)
	if l.b != nil {
		be.BiasBackward(g[l.bias], dout, rows, l.w.Rows())
	}
}

// norm is an RMSNorm gain, or a LayerNorm gain and bias.
type norm struct {
	w, b   *tensor.Tensor // b is nil for RMSNorm
	wi, bi int            // indices in Model.Params (bi -1 for RMSNorm)
}

// layer is one decoder layer's parameters by role. Which roles are set
// depends on the family (see the bind functions).
type layer struct {
	norm1, norm2 norm   // input_layernorm, post_attention_layernorm
	q, k, v      linear // separate, or views of Phi-3's fused qkv_proj
	qkv          linear // GPT-NeoX's fused per-head query_key_value
	o            linear // o_proj, GPT-NeoX attention.dense
	gate, up     linear // SwiGLU projections (views of Phi-3's gate_up_proj); GPT-NeoX: up = dense_h_to_4h
	down         linear // down_proj, GPT-NeoX dense_4h_to_h
	router       linear // Mixtral block_sparse_moe.gate
	experts      []expert
}

// expert is one Mixtral expert: w2(silu(w1·x) ⊙ w3·x).
type expert struct {
	w1, w2, w3 linear // gate, down, up
}

// param returns the index of the named parameter; New has checked that
// every name a family binds exists.
func (m *Model) param(name string) int {
	i, ok := m.index[name]
	if !ok {
		panic(fmt.Sprintf("model: %s binds %q, which ParamSpecs does not list", m.Config.Architecture, name))
	}
	return i
}

// linear binds the projection p.weight and, when the checkpoint has one,
// p.bias.
func (m *Model) linear(p string) linear {
	i := m.param(p + ".weight")
	l := linear{w: m.Params[i], param: i, bias: -1}
	if b, ok := m.index[p+".bias"]; ok {
		l.b, l.bias = m.Params[b], b
	}
	return l
}

// rows binds rows [r0, r1) of the fused projection p.weight as a view that
// aliases the parameter's bytes: an in-place change of the parameter is
// what the view computes with. Invalidate(param) reaches the view too.
func (m *Model) rows(p string, r0, r1 int) linear {
	i := m.param(p + ".weight")
	view := rowView(m.Params[i], r0, r1)
	m.views[i] = append(m.views[i], view)
	return linear{w: view, param: i, row0: r0, bias: -1}
}

// rowView is rows [r0, r1) of t as a tensor aliasing t's bytes.
func rowView(t *tensor.Tensor, r0, r1 int) *tensor.Tensor {
	n := t.Cols() * t.DType.Size()
	return &tensor.Tensor{Name: t.Name, Shape: []int{r1 - r0, t.Cols()}, DType: t.DType, Data: t.Data[r0*n : r1*n : r1*n]}
}

// norm binds p.weight and, for LayerNorm, p.bias.
func (m *Model) norm(p string) norm {
	n := norm{wi: m.param(p + ".weight"), bi: -1}
	n.w = m.Params[n.wi]
	if b, ok := m.index[p+".bias"]; ok {
		n.b, n.bi = m.Params[b], b
	}
	return n
}
