package model

import (
	"errors"
	"fmt"

	"esa/stdlib/backend"
)

// ForwardOptions tune one forward pass; a nil *ForwardOptions means none.
type ForwardOptions struct {
	// Hook, when set, sees the inputs of every linear layer and the outputs
	// of the down projections (see HookEvent). Nothing is copied without a
	// hook.
	Hook Hook
	// KeepActivations keeps every layer's activations so that Backward can
	// run; without it one layer's worth of memory is reused across layers.
	KeepActivations bool
}

// Pass is the result of a float32 forward pass on one sequence.
type Pass struct {
	// Logits are T×Vocab, row-major: row t predicts the token after ids[t].
	// They may alias the pass's memory: valid until Release.
	Logits []float32
	T      int
	r      run
}

// Pass64 is the result of a float64 reference forward pass.
type Pass64 struct {
	Logits []float64 // T×Vocab, row-major
	T      int
	r      run
}

// run is the state shared by Pass and Pass64.
type run struct {
	m        *Model
	e        *engine
	ws       *workspace
	rope     *ropeTable
	ids      []int
	keep     bool
	released bool
}

func (m *Model) start(e *engine, ids []int, opt *ForwardOptions) (run, error) {
	if err := m.checkIDs(ids, 0); err != nil {
		return run{}, err
	}
	var o ForwardOptions
	if opt != nil {
		o = *opt
	}
	T := len(ids)
	r := run{m: m, e: e, ids: append([]int(nil), ids...), keep: o.KeepActivations}
	r.rope = m.ropeFor(e, T)
	r.ws = m.take(e, T, o.KeepActivations)
	m.fam.forward(m, e.be, r.ws, r.rope, r.ids, 0, nil, o.Hook, false)
	return r, nil
}

// Forward runs the model on one sequence of token ids (positions 0..T-1).
func (m *Model) Forward(ids []int, opt *ForwardOptions) (*Pass, error) {
	e := m.engine32()
	r, err := m.start(e, ids, opt)
	if err != nil {
		return nil, err
	}
	n := len(ids) * m.Config.Vocab
	logits, ok := backend.HostF32(r.ws.lgt)
	if ok {
		logits = logits[:n:n]
	} else {
		logits = make([]float32, n)
		e.be.Download(logits, r.ws.lgt)
	}
	return &Pass{Logits: logits, T: len(ids), r: r}, nil
}

// Forward64 runs the float64 reference forward (slow; for checks).
func (m *Model) Forward64(ids []int, opt *ForwardOptions) (*Pass64, error) {
	e := m.engine64()
	r, err := m.start(e, ids, opt)
	if err != nil {
		return nil, err
	}
	logits := make([]float64, len(ids)*m.Config.Vocab)
	e.be.(backend.Host64).Download64(logits, r.ws.lgt)
	return &Pass64{Logits: logits, T: len(ids), r: r}, nil
}

// Release hands the pass's memory to the next pass; Logits become invalid.
// Calling it more than once is harmless.
func (p *Pass) Release() { p.r.release() }

// Release hands the pass's memory to the next pass.
func (p *Pass64) Release() { p.r.release() }

func (r *run) release() {
	if r.released || r.m == nil {
		return
	}
	r.released = true
	r.m.give(r.e, r.ws)
	r.ws = nil
}

func (r *run) checkBackward(nDlogits int) error {
	switch {
	case r.m == nil:
		return errors.New("model: Backward on a pass that never ran")
	case r.released:
		return errors.New("model: Backward after Release")
	case !r.keep:
		return errors.New("model: Backward needs a forward with KeepActivations")
	case nDlogits != len(r.ids)*r.m.Config.Vocab:
		return fmt.Errorf("model: dlogits has %d values, want T×vocab = %d×%d", nDlogits, len(r.ids), r.m.Config.Vocab)
	}
	return nil
}

// Backward adds to g the gradient of Σ dlogits⊙logits with respect to every
// parameter, i.e. back-propagates an arbitrary gradient of the logits (the
// loss gradient from CrossEntropy, a sampled-label gradient, ...). Call it
// once per pass; gradients accumulate across passes until g.Zero(). In
// resident mode (Grads.Resident) they accumulate on the backend: call
// g.Sync() before reading g.G.
func (p *Pass) Backward(dlogits []float32, g *Grads) error {
	if err := p.r.checkBackward(len(dlogits)); err != nil {
		return err
	}
	m := p.r.m
	if err := m.checkGradLens(func(i int) int { return len(g.G[i]) }, len(g.G)); err != nil {
		return err
	}
	be := p.r.e.be
	gb, done := g.buffers(be)
	m.fam.backward(m, be, p.r.ws, p.r.rope, p.r.ids, be.FromHost(dlogits), gb)
	done()
	return nil
}

// Backward is the float64 reference backward (see Pass.Backward).
func (p *Pass64) Backward(dlogits []float64, g *Grads64) error {
	if err := p.r.checkBackward(len(dlogits)); err != nil {
		return err
	}
	m := p.r.m
	if err := m.checkGradLens(func(i int) int { return len(g.G[i]) }, len(g.G)); err != nil {
		return err
	}
	be := p.r.e.be
	h := be.(backend.Host64)
	gb := make([]backend.Buffer, len(g.G))
	for i, v := range g.G {
		gb[i] = be.Alloc(len(v))
		h.Upload64(gb[i], v)
	}
	dl := be.Alloc(len(dlogits))
	h.Upload64(dl, dlogits)
	m.fam.backward(m, be, p.r.ws, p.r.rope, p.r.ids, dl, gb)
	for i, v := range g.G {
		h.Download64(v, gb[i])
	}
	return nil
}

// nextTokenTargets returns ids shifted left by one, the last target -1
// (nothing to predict after the last token).
func nextTokenTargets(ids []int) []int {
	t := make([]int, len(ids))
	copy(t, ids[1:])
	t[len(t)-1] = -1
	return t
}

// LossAndGrad runs forward and backward on one sequence with next-token
// targets and adds the gradient of the summed NLL into g. It returns the
// summed NLL and the number of predicted tokens (T-1). In resident mode
// (Grads.Resident) the gradients stay on the backend until g.Sync().
func (m *Model) LossAndGrad(ids []int, g *Grads) (sumNLL float64, n int, err error) {
	if g == nil {
		return 0, 0, errors.New("model: LossAndGrad needs gradients (use NewGrads)")
	}
	if err := m.checkGradLens(func(i int) int { return len(g.G[i]) }, len(g.G)); err != nil {
		return 0, 0, err
	}
	e := m.engine32()
	r, err := m.start(e, ids, &ForwardOptions{KeepActivations: true})
	if err != nil {
		return 0, 0, err
	}
	defer r.release()
	be := e.be
	// The loss gradient overwrites the logits: one vocabulary-sized buffer.
	sumNLL = be.CrossEntropy(r.ws.lgt, r.ws.lgt, nextTokenTargets(r.ids), len(ids), m.Config.Vocab)
	gb, done := g.buffers(be)
	m.fam.backward(m, be, r.ws, r.rope, r.ids, r.ws.lgt, gb)
	done()
	return sumNLL, len(ids) - 1, nil
}

// LossAndGrad64 is LossAndGrad on the float64 reference path.
func (m *Model) LossAndGrad64(ids []int, g *Grads64) (sumNLL float64, n int, err error) {
	if g == nil {
		return 0, 0, errors.New("model: LossAndGrad64 needs gradients (use NewGrads64)")
	}
	p, err := m.Forward64(ids, &ForwardOptions{KeepActivations: true})
	if err != nil {
		return 0, 0, err
	}
	defer p.Release()
	sumNLL, n, dl := crossEntropy(p.Logits, m.Config.Vocab, nextTokenTargets(ids))
	if err := p.Backward(dl, g); err != nil {
		return 0, 0, err
	}
	return sumNLL, n, nil
}
