package sensitivity

import (
	"context"
	"fmt"
	"math"

	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rng"
	"esa/stdlib/progress"
	"esa/stdlib/tensor"
)

// DefaultStep is hutchinson_diag's central-difference step ε: Hz ≈
// (∇L(w+εz) − ∇L(w−εz)) / 2ε. The truncation error is O(ε²) (third
// derivatives of L along z); the float32 error grows like u·‖∇L‖/ε (u = 2⁻²⁴)
// plus the rounding of w±εz to float32 (≤ ulp(w)/2 per weight). Measured on
// stories260K against a float64 reference (TestHVPAgainstFloat64), relative
// L2 error of Hz: ε=10⁻⁵ 1.6e-3, 3·10⁻⁵ 4.8e-4, 10⁻⁴ 1.4e-4, 3·10⁻⁴ 3.5e-4,
// 10⁻³ 4.3e-3, 10⁻² 0.30.
const DefaultStep = 1e-4

// hutchinson estimates diag(H) of the mean token loss by
// (1/P)·Σ_p z_p ⊙ H z_p with Rademacher z_p over the scored weights (other
// parameters stay fixed; for scored i, E[z_i (Hz)_i] = H_ii), and stores
// its absolute value. Each probe's Hz comes from two full gradient passes
// over the calibration set with every scored weight displaced by ±ε·z in
// place; the weights are then restored bit for bit and checked by checksum.
func (s *Scores) hutchinson(ctx context.Context, seqs [][]int, workers int, opt Options, rep progress.Reporter, phase string) error {
	est, note, err := s.hutchinsonEstimate(ctx, seqs, workers, opt, rep, phase)
	if err != nil {
		return err
	}
	for k := range est {
		for j, v := range est[k] {
			est[k][j] = float32(math.Abs(float64(v)))
		}
	}
	s.vals = est
	s.Notes = append(s.Notes, note)
	return nil
}

// hutchinsonEstimate returns the signed estimate (1/P)·Σ_p z_p ⊙ H z_p per
// scored tensor.
func (s *Scores) hutchinsonEstimate(ctx context.Context, seqs [][]int, workers int, opt Options, rep progress.Reporter, phase string) (_ [][]float32, _ string, err error) {
	probes := opt.Probes
	if probes <= 0 {
		probes = DefaultProbes
	}
	eps := opt.Step
	if eps <= 0 {
		eps = DefaultStep
	}
	widened, restore, err := s.widen()
	// Restored on every return, an error, a cancel or a panic included.
	defer func() {
		if e := restore(); e != nil && err == nil {
			err = e
		}
	}()
	if err != nil {
		return nil, "", err
	}
	est := make([][]float32, len(s.Params))
	for k, p := range s.Params {
		est[k] = make([]float32, s.m.Params[p].Len())
	}
	for pr := 0; pr < probes; pr++ {
		hz, err := s.hvp(ctx, seqs, workers, opt.Seed, pr, eps, rep, fmt.Sprintf("%s probe %d/%d", phase, pr+1, probes))
		if err != nil {
			return nil, "", err
		}
		for k := range s.Params {
			e, h := est[k], hz[k]
			z := newRademacher(opt.Seed, pr, k)
			for j := range e {
				e[j] += z.next() * h[j]
			}
		}
	}
	for k := range est {
		for j := range est[k] {
			est[k][j] /= float32(probes)
		}
	}
	note := fmt.Sprintf("hutchinson_diag = |(1/P)·Σ_p z_p ⊙ H z_p| with P = %d Rademacher probes (seed %d) over the scored weights, H the Hessian of the mean token loss over %d sequences (%d tokens); Hz by central differences of float32 gradients with ε = %g", probes, opt.Seed, s.Sequences, s.Tokens, eps)
	if widened > 0 {
		note += fmt.Sprintf("; %d non-fp32 tensors were widened to fp32 while probing", widened)
	}
	return est, note, nil
}

// widen swaps every non-F32 scored tensor of the model for a float32 copy (a
// bf16 weight cannot move by ε·z and back), through Model.ReplaceParam: the
// layers, Phi-3's row views and a tied head hold their own references, and
// all of them must compute with the displaced copy. It returns how many, and
// the function that puts the original tensors back; displacement only ever
// writes the copies, so the originals come back bit for bit.
func (s *Scores) widen() (n int, restore func() error, err error) {
	m := s.m
	type swap struct {
		p    int
		orig *tensor.Tensor
	}
	var done []swap
	restore = func() error {
		var first error
		for _, sw := range done {
			if e := m.ReplaceParam(sw.p, sw.orig); e != nil && first == nil {
				first = fmt.Errorf("sensitivity: hutchinson_diag could not put %s back: %w", sw.orig.Name, e)
			}
		}
		done = nil
		return first
	}
	for _, p := range s.Params {
		orig := m.Params[p]
		if orig.DType == tensor.F32 {
			continue
		}
		if err := m.ReplaceParam(p, orig.Convert(tensor.F32)); err != nil {
			return 0, restore, err
		}
		done = append(done, swap{p, orig})
	}
	return len(done), restore, nil
}

// hvp returns H·z_probe per scored tensor by central differences:
// (∇L(w+εz) − ∇L(w−εz)) / 2ε, L the mean token loss over seqs. The scored
// tensors must be F32 (see widen); they are restored bit for bit, which is
// verified by checksum.
func (s *Scores) hvp(ctx context.Context, seqs [][]int, workers int, seed uint64, probe int, eps float64, rep progress.Reporter, phase string) ([][]float32, error) {
	targets := make([]perturb.Target, len(s.Params))
	for k, p := range s.Params {
		targets[k] = perturb.Target{T: s.m.Params[p]}
	}
	before := perturb.Checksum(targets)
	var g [2][][]float32
	for side, sign := range []float64{1, -1} {
		var err error
		func() {
			undo := s.displace(seed, probe, sign*eps)
			defer undo() // also on a panic in the gradient pass
			g[side], _, err = meanGradient(ctx, s.m, seqs, workers, rep, phase)
		}()
		if after := perturb.Checksum(targets); after != before {
			return nil, fmt.Errorf("sensitivity: hutchinson_diag did not restore the weights bit for bit (probe %d)", probe+1)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([][]float32, len(s.Params))
	for k, p := range s.Params {
		gp, gm := g[0][p], g[1][p]
		for j := range gp {
			gp[j] = (gp[j] - gm[j]) / float32(2*eps)
		}
		out[k] = gp
	}
	return out, nil
}

// displace adds delta·z_probe to every scored weight in place and returns
// the function that undoes it. w+δz is rounded to float32; where
// (w+δz)−δz does not give w back exactly, the original bits are saved, so
// the undo is exact for every weight.
func (s *Scores) displace(seed uint64, probe int, delta float64) (undo func()) {
	type saved struct {
		k, j int
		bits uint32
	}
	var exceptions []saved
	d := float32(delta)
	for k, p := range s.Params {
		w := s.m.Params[p].F32()
		z := newRademacher(seed, probe, k)
		for j, x := range w {
			step := d * z.next()
			y := x + step
			if y-step != x {
				exceptions = append(exceptions, saved{k, j, math.Float32bits(x)})
			}
			w[j] = y
		}
		s.m.Invalidate(p)
	}
	return func() {
		for k, p := range s.Params {
			w := s.m.Params[p].F32()
			z := newRademacher(seed, probe, k)
			for j := range w {
				w[j] -= d * z.next()
			}
		}
		for _, e := range exceptions {
			s.m.Params[s.Params[e.k]].F32()[e.j] = math.Float32frombits(e.bits)
		}
		for _, p := range s.Params {
			s.m.Invalidate(p)
		}
	}
}

// rademacher yields ±1 from a seeded stream, 64 signs per draw; the same
// (seed, probe, tensor) always gives the same signs, so z is regenerated
// instead of stored.
type rademacher struct {
	src  interface{ Uint64() uint64 }
	word uint64
	left int
}

func newRademacher(seed uint64, probe, tensor int) *rademacher {
	return &rademacher{src: rng.New(seed, fmt.Sprintf("hutchinson/probe%d/tensor%d", probe, tensor))}
}

func (r *rademacher) next() float32 {
	if r.left == 0 {
		r.word, r.left = r.src.Uint64(), 64
	}
	b := r.word & 1
	r.word >>= 1
	r.left--
	return float32(1 - 2*int(b))
}
