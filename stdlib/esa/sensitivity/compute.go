package sensitivity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/rng"
	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// Options control Compute.
type Options struct {
	Metric choice.Metric
	// Workers is the number of sequences in flight at once (the runner's
	// --batch-size); each holds its own gradient buffers.
	Workers int
	// Probes is hutchinson_diag's number of Rademacher probes (0: 10).
	Probes int
	// FisherSamples is hessian_diag's label draws per sequence (0: 1).
	FisherSamples int
	// Step is hutchinson_diag's central-difference step ε (0: DefaultStep).
	Step float64
	// Seed drives probes and sampled labels.
	Seed uint64
	// IncludeVectors also scores rank-1 tensors (norm gains, biases).
	IncludeVectors bool
}

// DefaultProbes is hutchinson_diag's default probe count (esa-spec.md).
const DefaultProbes = 10

// Compute scores every weight of m by opt.Metric over the calibration
// sequences seqs (ignored by magnitude). The model is unchanged afterwards
// (hutchinson_diag displaces and restores weights bit for bit).
func Compute(ctx context.Context, m *model.Model, seqs [][]int, opt Options, rep progress.Reporter) (*Scores, error) {
	if _, err := choice.ParseMetric(string(opt.Metric)); err != nil {
		return nil, err
	}
	s := newScores(m, opt.Metric, opt.IncludeVectors)
	if opt.Metric == choice.Magnitude {
		s.Notes = append(s.Notes, "magnitude = |w| read from the stored weights; no data used")
		return s, nil
	}
	if len(seqs) == 0 {
		return nil, errors.New("sensitivity: no calibration sequences (every text had fewer than two tokens?)")
	}
	s.Sequences, s.Tokens = len(seqs), Tokens(seqs)
	workers := max(1, opt.Workers)
	phase := "sensitivity " + string(opt.Metric)
	var err error
	switch opt.Metric {
	case choice.GradXWeight:
		err = s.gradXWeight(ctx, seqs, workers, rep, phase)
	case choice.GradSquared:
		err = s.squaredGradients(ctx, seqs, workers, 1, false, opt.Seed, rep, phase)
	case choice.HessianDiag:
		n := opt.FisherSamples
		if n <= 0 {
			n = 1
		}
		err = s.squaredGradients(ctx, seqs, workers, n, true, opt.Seed, rep, phase)
	case choice.HutchinsonDiag:
		err = s.hutchinson(ctx, seqs, workers, opt, rep, phase)
	case choice.ActMag:
		err = s.actMag(ctx, seqs, workers, rep, phase)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// gradXWeight stores |g ⊙ w| with g the gradient of the mean token loss.
func (s *Scores) gradXWeight(ctx context.Context, seqs [][]int, workers int, rep progress.Reporter, phase string) error {
	g, loss, err := meanGradient(ctx, s.m, seqs, workers, rep, phase)
	if err != nil {
		return err
	}
	s.MeanLoss = loss
	s.vals = make([][]float32, len(s.Params))
	for i, p := range s.Params {
		w := s.m.Params[p]
		v := g[p]
		buf := make([]float32, min(len(v), 1<<16))
		for off := 0; off < len(v); off += len(buf) {
			chunk := buf[:min(len(buf), len(v)-off)]
			w.ReadF32(off, chunk)
			for j, x := range chunk {
				v[off+j] = float32(math.Abs(float64(v[off+j]) * float64(x)))
			}
		}
		s.vals[i] = v // reuse the gradient's memory for the scores
	}
	s.Notes = append(s.Notes, fmt.Sprintf("grad_x_weight = |g ⊙ w|, g = gradient of the mean token loss over %d sequences (%d predicted tokens)", s.Sequences, s.Tokens))
	return nil
}

// squaredGradients accumulates per-sequence squared gradients.
//
// grad_squared (sampled=false): Σ_s g_s², g_s the gradient of sequence s's
// summed token NLL with its real next tokens (empirical Fisher diagonal).
//
// hessian_diag (sampled=true): the true Fisher diagonal of the mean token
// loss, (1/N)·Σ_s E_ŷ[(∇ Σ_t −log p(ŷ_t | x_<t))²] with every label ŷ_t drawn
// from the model's own softmax at position t (contexts stay the real text),
// estimated with `samples` independent draws per sequence. Cross terms
// between positions vanish in expectation (E_ŷ ∇log p(ŷ) = 0 and draws are
// independent), so this is unbiased for Σ_t F_t / N, the expected Hessian
// (Gauss–Newton) of the mean loss.
//
// Every (sequence, draw) pass computes its gradient into its worker's
// zeroed scratch, and g² is added into the one total in (sequence, draw)
// order (forSequencesOrdered), so the scores are the same bits for every
// worker count and schedule. Memory: a gradient scratch per worker plus
// one total over the scored tensors.
func (s *Scores) squaredGradients(ctx context.Context, seqs [][]int, workers, samples int, sampled bool, seed uint64, rep progress.Reporter, phase string) error {
	m := s.m
	V := m.Config.Vocab
	workers = max(1, min(workers, len(seqs)*samples))
	scratch := make([]*model.Grads, workers)
	passNLL := make([]float64, workers) // the NLL of the pass a worker holds
	total := make([][]float32, len(s.Params))
	for k, p := range s.Params {
		total[k] = make([]float32, m.Params[p].Len())
	}
	var sumNLL float64
	compute := func(w, i, k int) error {
		if scratch[w] == nil {
			scratch[w] = m.NewGrads()
		}
		g := scratch[w]
		ids := seqs[i]
		// Labels of sequence i come from their own stream, so results do
		// not depend on which worker ran which sequence. sampleSoftmax
		// takes one draw per position, so draw k's labels start k·(T−1)
		// values into the stream: the same labels as drawing the samples
		// of sequence i one after another.
		var r *rand.Rand
		if sampled {
			r = rng.New(seed, fmt.Sprintf("fisher_labels/%d", i))
			for range k * (len(ids) - 1) {
				r.Float64()
			}
		}
		g.Zero()
		p, err := m.Forward(ids, &model.ForwardOptions{KeepActivations: true})
		if err != nil {
			return err
		}
		targets := make([]int, len(ids))
		copy(targets, ids[1:])
		targets[len(ids)-1] = -1
		if sampled {
			for t := 0; t < len(ids)-1; t++ {
				targets[t] = sampleSoftmax(r, p.Logits[t*V:(t+1)*V])
			}
		}
		nll, _, dl := model.CrossEntropy(p.Logits, V, targets)
		passNLL[w] = nll
		err = p.Backward(dl, g)
		p.Release()
		return err
	}
	reduce := func(w, _, _ int) {
		sumNLL += passNLL[w]
		g := scratch[w]
		for k, pi := range s.Params {
			a := total[k]
			for j, v := range g.G[pi] {
				a[j] += v * v
			}
		}
	}
	if err := forSequencesOrdered(ctx, len(seqs), samples, workers, rep, phase, compute, reduce); err != nil {
		return err
	}
	s.vals = total
	if sampled {
		scale := float32(1 / (float64(samples) * float64(s.Tokens)))
		for k := range s.vals {
			for j := range s.vals[k] {
				s.vals[k][j] *= scale
			}
		}
		s.Notes = append(s.Notes, fmt.Sprintf("hessian_diag = true Fisher diagonal of the mean token loss: labels sampled from the model's softmax at every position, %d Monte-Carlo draw(s) per sequence over %d sequences (%d tokens), seed %d", samples, s.Sequences, s.Tokens, seed))
	} else {
		s.MeanLoss = sumNLL / float64(s.Tokens)
		s.Notes = append(s.Notes, fmt.Sprintf("grad_squared = Σ_s g_s² over %d sequences, g_s = gradient of sequence s's summed token NLL (empirical Fisher diagonal; divide by %d tokens for the scale of hessian_diag)", s.Sequences, s.Tokens))
	}
	return nil
}

// sampleSoftmax draws an index from softmax(logits) (float64 arithmetic).
func sampleSoftmax(r *rand.Rand, logits []float32) int {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v) - mx)
	}
	u := r.Float64() * z
	for j, v := range logits {
		u -= math.Exp(float64(v) - mx)
		if u < 0 {
			return j
		}
	}
	return len(logits) - 1
}
