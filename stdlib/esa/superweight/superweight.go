// Package superweight finds super-weight candidates (Yu et al., 2024, "The
// Super Weight in Large Language Models"): one forward pass with hooks on
// every mlp.down_proj shows, in the layer holding a super weight, a huge
// activation at one input column and one output row; the weight at
// [row, col] of that down_proj is the candidate. A zeroing test then
// compares the damage of zeroing it with zeroing random single weights.
package superweight

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rng"
	"esa/stdlib/model"
)

// Layer is what one down_proj saw on the prompt.
type Layer struct {
	Layer int    `json:"layer"`
	Param string `json:"param"`
	// MaxInput is the input activation of largest magnitude (signed), at
	// input column InputCol and prompt position InputPos.
	MaxInput float64 `json:"max_input"`
	InputCol int     `json:"input_col"`
	InputPos int     `json:"input_pos"`
	// MaxOutput is the output activation of largest magnitude (signed), at
	// output row OutputRow (hidden feature) and position OutputPos.
	MaxOutput float64 `json:"max_output"`
	OutputRow int     `json:"output_row"`
	OutputPos int     `json:"output_pos"`
	// InputRatio and OutputRatio are |MaxInput| and |MaxOutput| over the
	// median of the same quantity across layers.
	InputRatio  float64 `json:"input_ratio"`
	OutputRatio float64 `json:"output_ratio"`
	Flagged     bool    `json:"flagged"`
}

// Candidate is a weight named by a spike: down_proj of Layer at [Row, Col].
type Candidate struct {
	Layer  int     `json:"layer"`
	Param  string  `json:"param"`
	Row    int     `json:"row"`
	Col    int     `json:"col"`
	Flat   int     `json:"flat_index"`
	Weight float64 `json:"weight"`
	// Flagged is false for the strongest layer reported when no layer
	// passed the threshold.
	Flagged bool `json:"flagged"`
}

// Report is the detector's finding.
type Report struct {
	PromptTokens int         `json:"prompt_tokens"`
	Threshold    float64     `json:"threshold"`
	Rule         string      `json:"rule"`
	Layers       []Layer     `json:"layers"`
	Candidates   []Candidate `json:"candidates"`
}

// Detect runs one forward pass of ids with hooks on every MLP output
// projection (mlp.down_proj; dense_4h_to_h in GPT-NeoX; expert w2 in Mixtral) and
// flags the layers whose largest |output| is at least threshold times the
// median over layers of that quantity. Each flagged layer names the
// candidate [output row, input column] of its down_proj; when none is
// flagged, the layer with the largest output ratio is named as an unflagged
// candidate so the zeroing test still has something to measure.
func Detect(ctx context.Context, m *model.Model, ids []int, threshold float64) (*Report, error) {
	if !(threshold > 1) {
		return nil, fmt.Errorf("superweight: threshold must be greater than 1, got %v", threshold)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The weights whose output is each layer's MLP output: mlp.down_proj
	// (Llama family), mlp.dense_4h_to_h (GPT-NeoX), every expert's w2 (Mixtral).
	down := map[int]int{} // param index → layer
	for l := 0; l < m.Config.Layers; l++ {
		for _, i := range m.DownProjs(l) {
			down[i] = l
		}
	}
	if len(down) == 0 {
		return nil, errors.New("superweight: the model has no MLP output projections")
	}
	layers := make([]Layer, m.Config.Layers)
	var seenIn, seenOut = make([]bool, m.Config.Layers), make([]bool, m.Config.Layers)
	for l := range layers {
		if ps := m.DownProjs(l); len(ps) > 0 {
			layers[l] = Layer{Layer: l, Param: m.Params[ps[0]].Name}
		}
	}
	// With experts a layer reports one event per expert that got tokens; the
	// layer's maximum is over all of them, and the candidate is in the expert
	// whose output held it.
	hook := func(e model.HookEvent) {
		l, ok := down[e.Param]
		if !ok {
			return
		}
		v, pos, col := maxAbs(e.X, e.Cols)
		if e.Tokens != nil {
			pos = e.Tokens[pos]
		}
		L := &layers[l]
		if e.Site == model.SiteInput {
			if !seenIn[l] || math.Abs(v) > math.Abs(L.MaxInput) {
				L.MaxInput, L.InputPos, L.InputCol = v, pos, col
			}
			seenIn[l] = true
		} else {
			if !seenOut[l] || math.Abs(v) > math.Abs(L.MaxOutput) {
				L.MaxOutput, L.OutputPos, L.OutputRow, L.Param = v, pos, col, m.Params[e.Param].Name
			}
			seenOut[l] = true
		}
	}
	p, err := m.Forward(ids, &model.ForwardOptions{Hook: hook})
	if err != nil {
		return nil, err
	}
	p.Release()
	for l := range layers {
		if !seenIn[l] || !seenOut[l] {
			return nil, fmt.Errorf("superweight: layer %d reported no MLP output-projection input or output (hook events missing)", l)
		}
	}
	medIn, medOut := medianAbs(layers, true), medianAbs(layers, false)
	r := &Report{PromptTokens: len(ids), Threshold: threshold,
		Rule: fmt.Sprintf("a layer is flagged when its largest |down_proj output| is ≥ %g × the median of that maximum over the %d layers; the candidate is [argmax output row, argmax input column] of its down_proj", threshold, len(layers))}
	best := -1
	for l := range layers {
		layers[l].InputRatio = math.Abs(layers[l].MaxInput) / medIn
		layers[l].OutputRatio = math.Abs(layers[l].MaxOutput) / medOut
		layers[l].Flagged = layers[l].OutputRatio >= threshold
		if best < 0 || layers[l].OutputRatio > layers[best].OutputRatio {
			best = l
		}
	}
	r.Layers = layers
	for _, L := range layers {
		if L.Flagged {
			r.Candidates = append(r.Candidates, candidate(m, L, true))
		}
	}
	if len(r.Candidates) == 0 {
		r.Candidates = append(r.Candidates, candidate(m, layers[best], false))
	}
	return r, nil
}

func candidate(m *model.Model, L Layer, flagged bool) Candidate {
	w := m.Param(L.Param)
	flat := L.OutputRow*w.Cols() + L.InputCol
	return Candidate{Layer: L.Layer, Param: L.Param, Row: L.OutputRow, Col: L.InputCol, Flat: flat, Weight: w.At(flat), Flagged: flagged}
}

// maxAbs returns the entry of largest magnitude of a rows×cols matrix, its
// row and column (first on ties).
func maxAbs(x []float32, cols int) (v float64, row, col int) {
	best := -1.0
	for i, f := range x {
		if a := math.Abs(float64(f)); a > best {
			best, v, row, col = a, float64(f), i/cols, i%cols
		}
	}
	return v, row, col
}

func medianAbs(ls []Layer, input bool) float64 {
	v := make([]float64, len(ls))
	for i, l := range ls {
		if input {
			v[i] = math.Abs(l.MaxInput)
		} else {
			v[i] = math.Abs(l.MaxOutput)
		}
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Eval measures the model (perplexity and token accuracy) as it is now.
type Eval func(ctx context.Context) (ppl, acc float64, err error)

// Zeroing is the zeroing test of one candidate.
type Zeroing struct {
	Candidate Candidate `json:"candidate"`
	BasePPL   float64   `json:"baseline_ppl"`
	ZeroedPPL float64   `json:"zeroed_ppl"`
	ZeroedAcc float64   `json:"zeroed_accuracy"`
	// PPLRatio is ZeroedPPL / BasePPL.
	PPLRatio float64 `json:"ppl_ratio"`
	// Controls are single random weights of the same tensor, each zeroed alone.
	Controls []Control `json:"controls"`
	// ControlRatioMean and ControlRatioMax summarise the controls' PPL ratios.
	ControlRatioMean float64 `json:"control_ppl_ratio_mean"`
	ControlRatioMax  float64 `json:"control_ppl_ratio_max"`
}

// Control is one random single weight zeroed as a control.
type Control struct {
	Row    int     `json:"row"`
	Col    int     `json:"col"`
	Weight float64 `json:"weight"`
	PPL    float64 `json:"ppl"`
	Ratio  float64 `json:"ppl_ratio"`
}

// ZeroTest zeroes the candidate alone, then each of n random single weights
// of the same tensor alone (drawn from seed, never the candidate), measuring
// with eval each time; every change is undone bit for bit.
func ZeroTest(ctx context.Context, m *model.Model, c Candidate, basePPL float64, n int, seed uint64, eval Eval) (*Zeroing, error) {
	p := m.ParamIndex(c.Param)
	if p < 0 {
		return nil, fmt.Errorf("superweight: no parameter %s", c.Param)
	}
	w := m.Params[p]
	z := &Zeroing{Candidate: c, BasePPL: basePPL}
	zero := func(flat int) (ppl, acc float64, err error) {
		// The model hears of the one weight zeroed and restored (a device
		// re-sends it alone); after a failure, of the whole tensor, since a
		// failed restore check means bytes changed beyond that weight.
		_, err = perturb.WithNotify(ctx, []perturb.Target{{T: w, Flat: []int64{int64(flat)}}}, perturb.Spec{Kind: choice.Zero},
			perturb.ReportTo(m, []int{p}),
			func(ctx context.Context) error {
				ppl, acc, err = eval(ctx)
				return err
			})
		if err != nil {
			m.Invalidate(p)
		}
		return ppl, acc, err
	}
	var err error
	if z.ZeroedPPL, z.ZeroedAcc, err = zero(c.Flat); err != nil {
		return nil, err
	}
	z.PPLRatio = z.ZeroedPPL / basePPL
	r := rng.New(seed, "superweight_controls/"+c.Param)
	var sum float64
	for len(z.Controls) < n {
		f := r.IntN(w.Len())
		if f == c.Flat {
			continue
		}
		ppl, _, err := zero(f)
		if err != nil {
			return nil, err
		}
		ctl := Control{Row: f / w.Cols(), Col: f % w.Cols(), Weight: w.At(f), PPL: ppl, Ratio: ppl / basePPL}
		z.Controls = append(z.Controls, ctl)
		sum += ctl.Ratio
		z.ControlRatioMax = math.Max(z.ControlRatioMax, ctl.Ratio)
	}
	if n > 0 {
		z.ControlRatioMean = sum / float64(n)
	}
	return z, nil
}

// String is a one-paragraph summary.
func (r *Report) String() string {
	var b strings.Builder
	for _, L := range r.Layers {
		mark := ""
		if L.Flagged {
			mark = "  ← spike"
		}
		fmt.Fprintf(&b, "layer %d: max |in| %.4g at col %d (×%.1f median), max |out| %.4g at row %d (×%.1f median)%s\n",
			L.Layer, L.MaxInput, L.InputCol, L.InputRatio, L.MaxOutput, L.OutputRow, L.OutputRatio, mark)
	}
	for _, c := range r.Candidates {
		kind := "candidate"
		if !c.Flagged {
			kind = "strongest layer (below threshold)"
		}
		fmt.Fprintf(&b, "%s: %s [%d, %d] = %.4g\n", kind, c.Param, c.Row, c.Col, c.Weight)
	}
	return b.String()
}
