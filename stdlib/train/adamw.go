// Package train trains small Llama models with the engine's own backward pass:
// the built-in default model is made this way (see cmd/esa/train.go).
package train

import (
	"math"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), the
// optimiser llama2.c and llm.c train with. It keeps two float32 moments per
// parameter; weight decay applies to matrices only (rank ≥ 2), not to norm gains.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	step                               int
	m, v                               [][]float32
}

// NewAdamW returns AdamW with the usual defaults (β=(0.9,0.95), ε=1e-8, wd=0.1).
func NewAdamW(lr float64) *AdamW {
	return &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
}

// Step updates params in place from grads (same layout), using learning rate lr.
// decay[i] says whether params[i] gets weight decay.
func (o *AdamW) Step(params, grads [][]float32, decay []bool, lr float64) {
	if o.m == nil {
		o.m = make([][]float32, len(params))
		o.v = make([][]float32, len(params))
		for i, p := range params {
			o.m[i] = make([]float32, len(p))
			o.v[i] = make([]float32, len(p))
		}
	}
	o.step++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.step))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	for i, p := range params {
		g, m, v := grads[i], o.m[i], o.v[i]
		wd := 0.0
		if decay[i] {
			wd = o.WeightDecay
		}
		for j := range p {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			mh := float64(m[j]) / bc1
			vh := float64(v[j]) / bc2
			p[j] -= float32(lr * (mh/(math.Sqrt(vh)+o.Eps) + wd*float64(p[j])))
		}
	}
}

// CosineLR is the learning rate at step t of total: linear warmup, then cosine
// decay to minFrac·peak.
func CosineLR(peak float64, t, warmup, total int, minFrac float64) float64 {
	if t < warmup {
		return peak * float64(t+1) / float64(warmup)
	}
	if total <= warmup {
		return peak
	}
	p := float64(t-warmup) / float64(total-warmup)
	return peak * (minFrac + (1-minFrac)*0.5*(1+math.Cos(math.Pi*math.Min(p, 1))))
}
