package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
	"esa/stdlib/tokenizer"
)

// Model is a validated set of parameters of one family, ready to run.
//
// Params are in model order (ParamSpecs) with tied tensors once; they are
// read in their stored dtype at every use, so an in-place change of a
// tensor's bytes is what the next pass computes with (call Invalidate
// afterwards for backends that cache converted copies, or Changed with the
// changed elements, which a device backend patches in O(k)). The layers hold
// their own references to these tensors (and row views of Phi-3's fused
// ones), so an entry of Params must be swapped for another tensor only with
// ReplaceParam; assigning to Params[i] leaves the layers on the old tensor.
// A Model may run passes from several goroutines; each pass takes its own
// workspace.
type Model struct {
	Config Config
	Params []*tensor.Tensor
	// Tokenizer is set by the loader; nil when the model came without one.
	Tokenizer tokenizer.Tokenizer

	fam    *family
	index  map[string]int
	embed  int    // index of the embedding in Params
	final  norm   // the norm before the head
	head   linear // lm_head / embed_out, or the embedding when tied
	layers []layer
	views  map[int][]*tensor.Tensor // fused parameter → row views the layers compute with
	rot    int                      // rotary dims per head
	inv    []float64                // rotary inverse frequencies

	mu  sync.Mutex
	e32 *engine // float32 CPU unless SetBackend chose another
	e64 *engine // float64 reference, created on first use
}

// engine is one backend with the per-backend state the model keeps: the
// RoPE table and the workspaces finished passes handed back.
type engine struct {
	be   backend.Backend
	rope *ropeTable
	free []*workspace
}

// New validates tensors against cfg's family and builds the model. Every
// tensor ParamSpecs lists must be present exactly once with the listed
// shape; each problem is reported with the tensor's name. With tied
// embeddings a stored head (lm_head.weight, embed_out.weight) is accepted
// only if it equals the embedding (some checkpoints store both) and is then
// dropped.
func New(cfg Config, tensors []*tensor.Tensor) (*Model, error) {
	c, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := ParamSpecs(c)
	if err != nil {
		return nil, err
	}
	fam := families[c.Architecture]
	byName := make(map[string]*tensor.Tensor, len(tensors))
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	for i, t := range tensors {
		if t == nil {
			bad("tensor #%d is nil", i)
			continue
		}
		if _, dup := byName[t.Name]; dup {
			bad("tensor %q appears twice", t.Name)
			continue
		}
		byName[t.Name] = t
	}
	params := make([]*tensor.Tensor, 0, len(sp))
	for _, s := range sp {
		t := byName[s.Name]
		delete(byName, s.Name)
		if t == nil {
			bad("missing tensor %q (expected shape %v)", s.Name, s.Shape)
			continue
		}
		if !slices.Equal(t.Shape, s.Shape) {
			bad("tensor %q has shape %v, config expects %v (%s)", s.Name, t.Shape, s.Shape, dims(c))
			continue
		}
		if e := storageProblem(t); e != "" {
			bad("%s", e)
			continue
		}
		params = append(params, t)
	}
	if lm := byName[fam.head]; lm != nil && c.TiedEmbeds {
		delete(byName, fam.head)
		if emb := findParam(params, fam.embed); emb != nil && !sameValues(lm, emb) {
			bad("tensor %q differs from the embedding but tie_word_embeddings is true", fam.head)
		}
	}
	var extra []string
	for name := range byName {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		bad("unexpected tensor %q (not part of a %d-layer %s model)", name, c.Layers, c.Architecture)
	}
	if len(errs) > 0 {
		return nil, errors.New("model: " + strings.Join(errs, "; "))
	}
	inv, _ := invFreq(c) // normalize checked it
	m := &Model{Config: c, Params: params, fam: fam, index: make(map[string]int, len(params)),
		views: map[int][]*tensor.Tensor{}, rot: rotaryDim(c), inv: inv}
	for i, t := range params {
		m.index[t.Name] = i
	}
	m.embed = m.param(fam.embed)
	m.final = m.norm(fam.norm)
	m.head = linear{w: params[m.embed], param: m.embed, bias: -1}
	if !c.TiedEmbeds {
		m.head = m.linear(strings.TrimSuffix(fam.head, ".weight"))
	}
	for l := 0; l < c.Layers; l++ {
		m.layers = append(m.layers, fam.bind(m, fmt.Sprintf(fam.layer, l)))
	}
	m.e32 = &engine{be: backend.CPU()}
	return m, nil
}

// storageProblem says what is wrong with t's dtype or byte count for a
// parameter, or "".
func storageProblem(t *tensor.Tensor) string {
	switch t.DType {
	case tensor.F32, tensor.BF16, tensor.F16, tensor.F64:
	default:
		return fmt.Sprintf("tensor %q has dtype %s (valid: F32, BF16, F16, F64)", t.Name, t.DType)
	}
	if want := t.Len() * t.DType.Size(); len(t.Data) != want {
		return fmt.Sprintf("tensor %q holds %d bytes, %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, want)
	}
	return ""
}

// dims names the config values parameter shapes come from, for errors.
func dims(c Config) string {
	s := fmt.Sprintf("hidden_size = %d, intermediate_size = %d, num_attention_heads = %d, num_key_value_heads = %d, head_dim = %d, vocab_size = %d, tie_word_embeddings = %v",
		c.Dim, c.Hidden, c.Heads, c.KVHeads, c.HeadDim, c.Vocab, c.TiedEmbeds)
	if c.NumExperts > 0 {
		s += fmt.Sprintf(", num_local_experts = %d", c.NumExperts)
	}
	return s
}

func findParam(ts []*tensor.Tensor, name string) *tensor.Tensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// sameValues compares two tensors element by element as float64.
func sameValues(a, b *tensor.Tensor) bool {
	if !slices.Equal(a.Shape, b.Shape) {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		if a.At(i) != b.At(i) {
			return false
		}
	}
	return true
}

// Param returns the parameter with this Hugging Face name, or nil. With tied
// embeddings there is no "lm_head.weight": the embedding serves as the head.
func (m *Model) Param(name string) *tensor.Tensor {
	if i, ok := m.index[name]; ok {
		return m.Params[i]
	}
	return nil
}

// ParamIndex returns the index into Params of the named parameter, or -1.
func (m *Model) ParamIndex(name string) int {
	if i, ok := m.index[name]; ok {
		return i
	}
	return -1
}

// Backend returns the backend float32 passes run on.
func (m *Model) Backend() backend.Backend { return m.e32.be }

// SetBackend makes float32 passes run on be (a GPU backend, say).
func (m *Model) SetBackend(be backend.Backend) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e32 = &engine{be: be}
}

// Invalidate tells the backends that the parameter at index i changed in
// place. CPU backends read weights at use and need no notice; backends that
// keep converted copies drop them — of the parameter and of the row views
// that Phi-3's layers compute with (q, k, v of qkv_proj; gate, up of
// gate_up_proj).
func (m *Model) Invalidate(i int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invalidateLocked(i)
}

// invalidateLocked is Invalidate with m.mu held.
func (m *Model) invalidateLocked(i int) {
	for _, e := range []*engine{m.e32, m.e64} {
		if e == nil {
			continue
		}
		e.be.Invalidate(m.Params[i])
		for _, v := range m.views[i] {
			e.be.Invalidate(v)
		}
	}
}

// DownProjs returns the indices in Params of the weights whose outputs make
// up layer l's MLP output (the site of super-weight spikes):
// mlp.down_proj (Llama, Mistral, Phi-3), mlp.dense_4h_to_h (GPT-NeoX), or
// every expert's w2 (Mixtral). Hooks report their inputs and outputs.
func (m *Model) DownProjs(l int) []int {
	if l < 0 || l >= len(m.layers) {
		return nil
	}
	lp := &m.layers[l]
	if lp.experts == nil {
		return []int{lp.down.param}
	}
	out := make([]int, len(lp.experts))
	for e, ex := range lp.experts {
		out[e] = ex.w2.param
	}
	return out
}

// Grads holds float32 gradients aligned with Model.Params; passes add into it.
// By default every pass copies G to the backend and back; Resident keeps
// them on the backend across passes instead (resident.go).
type Grads struct {
	G [][]float32

	dev *deviceGrads // non-nil in resident mode
}

// NewGrads allocates zeroed gradients for every parameter.
func (m *Model) NewGrads() *Grads {
	g := &Grads{G: make([][]float32, len(m.Params))}
	for i, t := range m.Params {
		g.G[i] = make([]float32, t.Len())
	}
	return g
}

// Zero clears every gradient (in resident mode the device copies too, which
// then stay current: the next pass uploads nothing).
func (g *Grads) Zero() {
	for _, v := range g.G {
		clear(v)
	}
	g.zeroDevice()
}

// Grads64 holds float64 gradients aligned with Model.Params (reference path).
type Grads64 struct {
	G [][]float64
}

// NewGrads64 allocates zeroed float64 gradients.
func (m *Model) NewGrads64() *Grads64 {
	g := &Grads64{G: make([][]float64, len(m.Params))}
	for i, t := range m.Params {
		g.G[i] = make([]float64, t.Len())
	}
	return g
}

// Zero clears every gradient.
func (g *Grads64) Zero() {
	for _, v := range g.G {
		clear(v)
	}
}

// checkGradLens verifies that the gradients have one slice of the right length per parameter.
func (m *Model) checkGradLens(lens func(i int) int, n int) error {
	if n != len(m.Params) {
		return fmt.Errorf("model: gradients hold %d tensors, model has %d parameters (use NewGrads)", n, len(m.Params))
	}
	for i, t := range m.Params {
		if lens(i) != t.Len() {
			return fmt.Errorf("model: gradient %d (%s) has %d values, parameter has %d", i, t.Name, lens(i), t.Len())
		}
	}
	return nil
}

// checkIDs rejects empty sequences, ids outside the vocabulary and
// sequences longer than the model's positions.
func (m *Model) checkIDs(ids []int, pos0 int) error {
	if len(ids) == 0 {
		return errors.New("model: empty token sequence")
	}
	for i, id := range ids {
		if id < 0 || id >= m.Config.Vocab {
			return fmt.Errorf("model: token id %d at position %d is outside the vocabulary [0, %d)", id, pos0+i, m.Config.Vocab)
		}
	}
	if n := m.Config.MaxSeqLen; n > 0 && pos0+len(ids) > n {
		return fmt.Errorf("model: sequence of %d tokens exceeds max_position_embeddings = %d", pos0+len(ids), n)
	}
	return nil
}

// engine64 returns the float64 reference engine, creating it once.
func (m *Model) engine64() *engine {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e64 == nil {
		m.e64 = &engine{be: backend.CPU64()}
	}
	return m.e64
}

// engine32 returns the float32 engine.
func (m *Model) engine32() *engine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e32
}

// ropeFor returns a table covering n positions on e's backend.
func (m *Model) ropeFor(e *engine, n int) *ropeTable {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.rope == nil || e.rope.n < n {
		size := max(n, 256)
		if e.rope != nil {
			size = max(size, 2*e.rope.n)
		}
		if mx := m.Config.MaxSeqLen; mx > 0 {
			size = max(n, min(size, mx))
		}
		e.rope = newRopeTable(e.be, m.inv, size)
	}
	return e.rope
}
