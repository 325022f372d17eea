package model

import (
	"fmt"
	"slices"

	"esa/stdlib/tensor"
)

// ReplaceParam makes t the parameter at index i: the tensor every pass
// computes with from then on, wherever the parameter is used — Params[i],
// the layers' projections and norms, the row views of Phi-3's fused
// qkv_proj and gate_up_proj (rebuilt over t's bytes) and, with tied
// embeddings, the output head. t must have the parameter's name and shape;
// its dtype may differ (hutchinson_diag swaps a bf16 weight for a float32
// copy it can displace by ±εz and back, then puts the original back).
//
// Backends drop what they keep of the old tensor and its views (a device
// copy keyed by the old pointer would otherwise stay allocated and unused)
// and any stale copy of t. The old tensor is left as it was.
//
// ReplaceParam must not run while a pass of this model is in flight or a
// kept Pass awaits Backward: passes read the bindings without a lock.
func (m *Model) ReplaceParam(i int, t *tensor.Tensor) error {
	if i < 0 || i >= len(m.Params) {
		return fmt.Errorf("model: ReplaceParam: index %d outside the %d parameters", i, len(m.Params))
	}
	old := m.Params[i]
	switch {
	case t == nil:
		return fmt.Errorf("model: ReplaceParam %q: nil tensor", old.Name)
	case t.Name != old.Name:
		return fmt.Errorf("model: ReplaceParam: tensor %q cannot replace parameter %d (%q)", t.Name, i, old.Name)
	case !slices.Equal(t.Shape, old.Shape):
		return fmt.Errorf("model: ReplaceParam %q: shape %v, the parameter has %v", t.Name, t.Shape, old.Shape)
	}
	if e := storageProblem(t); e != "" {
		return fmt.Errorf("model: ReplaceParam: %s", e)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.invalidateLocked(i)
	m.Params[i] = t
	var views []*tensor.Tensor
	rebind := func(l *linear) {
		if l.w == nil { // a role this family does not bind
			return
		}
		if l.param == i {
			if l.w == old {
				l.w = t
			} else {
				// A row view of the fused parameter: the same rows of t.
				l.w = rowView(t, l.row0, l.row0+l.w.Rows())
				views = append(views, l.w)
			}
		}
		if l.b != nil && l.bias == i {
			l.b = t
		}
	}
	renorm := func(n *norm) {
		if n.w != nil && n.wi == i {
			n.w = t
		}
		if n.b != nil && n.bi == i {
			n.b = t
		}
	}
	for l := range m.layers {
		lp := &m.layers[l]
		renorm(&lp.norm1)
		renorm(&lp.norm2)
		for _, ln := range []*linear{&lp.q, &lp.k, &lp.v, &lp.qkv, &lp.o, &lp.gate, &lp.up, &lp.down, &lp.router} {
			rebind(ln)
		}
		for e := range lp.experts {
			ex := &lp.experts[e]
			rebind(&ex.w1)
			rebind(&ex.w2)
			rebind(&ex.w3)
		}
	}
	renorm(&m.final)
	rebind(&m.head) // the embedding itself when tied
	// The walk meets a fused parameter's views in the order New bound them
	// (q, k, v; gate, up), so Invalidate's list keeps its row order.
	if len(views) > 0 {
		m.views[i] = views
	} else {
		delete(m.views, i)
	}
	m.invalidateLocked(i)
	return nil
}
