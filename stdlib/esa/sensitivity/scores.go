// Package sensitivity scores every weight of a model with the metrics of
// esa-spec.md — magnitude, grad_x_weight, grad_squared, hessian_diag,
// hutchinson_diag, act_mag — over calibration token sequences. Scores are
// served tensor by tensor to the streaming ranking (rank.Source); metrics
// that are a function of the weights (magnitude, act_mag) are computed on
// the fly from the stored dtype, never from a float32 copy of the model.
package sensitivity

import (
	"fmt"
	"math"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/rank"
	"esa/stdlib/model"
)

// Scores are the per-weight scores of one metric on one model.
type Scores struct {
	Metric  choice.Metric
	Tensors []rank.TensorInfo // the scored tensors, model order
	Params  []int             // index into Model.Params of each scored tensor

	Sequences int     // calibration sequences used (0 for magnitude)
	Tokens    int     // predicted tokens in them
	MeanLoss  float64 // calibration mean token NLL where the metric computed it, else NaN
	// Notes say how the scores were computed (estimator sizes, steps).
	Notes []string

	m *model.Model
	// vals holds stored scores (the gradient metrics); nil for metrics
	// computed from the weights on demand.
	vals [][]float32
	// norms are act_mag's input norms: per column of a linear weight, per
	// row (token) of an embedding (byRow).
	norms [][]float32
	byRow []bool
}

// ScoredParams lists the indices into m.Params of the tensors ESA scores:
// every parameter of rank ≥ 2 (matrices and embeddings; tied tensors appear
// once in Params), plus rank-1 tensors (norm gains, biases) when
// includeVectors is set.
func ScoredParams(m *model.Model, includeVectors bool) []int {
	var out []int
	for i, t := range m.Params {
		if len(t.Shape) >= 2 || includeVectors {
			out = append(out, i)
		}
	}
	return out
}

func newScores(m *model.Model, metric choice.Metric, includeVectors bool) *Scores {
	s := &Scores{Metric: metric, m: m, MeanLoss: math.NaN()}
	s.Params = ScoredParams(m, includeVectors)
	for _, p := range s.Params {
		t := m.Params[p]
		s.Tensors = append(s.Tensors, rank.TensorInfo{Name: t.Name, Shape: append([]int(nil), t.Shape...)})
	}
	return s
}

// Model is the model the scores belong to.
func (s *Scores) Model() *model.Model { return s.m }

// Len is the number of scored weights.
func (s *Scores) Len() int64 {
	var n int64
	for _, t := range s.Tensors {
		n += t.Len()
	}
	return n
}

// ScoreRange fills dst with the scores of scored tensor i at flat offsets
// [start, start+len(dst)). Safe for concurrent use while the weights do not
// change.
func (s *Scores) ScoreRange(i int, start int64, dst []float32) error {
	if i < 0 || i >= len(s.Tensors) {
		return fmt.Errorf("sensitivity: no scored tensor %d", i)
	}
	if start < 0 || start+int64(len(dst)) > s.Tensors[i].Len() {
		return fmt.Errorf("sensitivity: range [%d, %d) outside %s", start, start+int64(len(dst)), s.Tensors[i].Name)
	}
	if s.vals != nil {
		copy(dst, s.vals[i][start:])
		return nil
	}
	t := s.m.Params[s.Params[i]]
	t.ReadF32(int(start), dst)
	switch s.Metric {
	case choice.Magnitude:
		for j, v := range dst {
			dst[j] = float32(math.Abs(float64(v)))
		}
	case choice.ActMag:
		cols := int64(t.Cols())
		norm := s.norms[i]
		for j, v := range dst {
			f := start + int64(j)
			k := f % cols // input feature (column) of a linear weight
			if s.byRow[i] {
				k = f / cols // token (row) of an embedding
			}
			dst[j] = float32(math.Abs(float64(v))) * norm[k]
		}
	default:
		return fmt.Errorf("sensitivity: %s scores were not computed", s.Metric)
	}
	return nil
}

// Source adapts Scores to rank.Source.
func (s *Scores) Source() rank.Source { return source{s} }

type source struct{ s *Scores }

func (x source) Tensors() []rank.TensorInfo { return x.s.Tensors }
func (x source) ScoreRange(i int, start int64, dst []float32) error {
	return x.s.ScoreRange(i, start, dst)
}
