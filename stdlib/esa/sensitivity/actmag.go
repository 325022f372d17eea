package sensitivity

import (
	"context"
	"fmt"
	"math"
	"strings"

	"esa/stdlib/model"
	"esa/stdlib/progress"
)

// embeddingNames are the token-embedding parameters across families: their
// input is one-hot, so ‖X_t‖₂ = √(count of token t).
var embeddingNames = []string{"model.embed_tokens.weight", "gpt_neox.embed_in.weight", "transformer.wte.weight"}

func isEmbedding(name string) bool {
	for _, n := range embeddingNames {
		if name == n {
			return true
		}
	}
	return false
}

// actMag computes the Wanda score |w_ij|·‖X_j‖₂: X_j is input feature j of
// the matrix over every calibration token position (forward hooks on the
// input of every linear layer). An embedding's input is one-hot, so its row
// t gets ‖X_t‖₂ = √(number of positions holding token t). With tied
// embeddings the shared matrix is scored as the embedding (the spec's
// one-hot rule); its role as the output head is not added in.
func (s *Scores) actMag(ctx context.Context, seqs [][]int, workers int, rep progress.Reporter, phase string) error {
	m := s.m
	workers = max(1, min(workers, len(seqs)))
	scored := map[int]int{} // param index → scored index
	var embeds []string
	for k, p := range s.Params {
		t := m.Params[p]
		if len(t.Shape) != 2 {
			return fmt.Errorf("sensitivity: act_mag is defined for matrices; %s has shape %v (leave rank-1 tensors out)", t.Name, t.Shape)
		}
		scored[p] = k
		if isEmbedding(t.Name) {
			embeds = append(embeds, t.Name)
		}
	}
	// Per scored tensor: Σ x² per input column (float64), or token counts
	// for embeddings. Each sequence's sums go into its worker's zeroed
	// scratch and are added into the total in sequence order
	// (forSequencesOrdered), so the norms are the same bits for every
	// worker count and schedule; a scratch is only Σ columns long.
	width := func(k int) int {
		t := m.Params[s.Params[k]]
		if isEmbedding(t.Name) {
			return t.Shape[0]
		}
		return t.Shape[1]
	}
	total := make([][]float64, len(s.Params))
	seenTotal := make([]bool, len(s.Params))
	for k := range total {
		total[k] = make([]float64, width(k))
	}
	scratch := make([][][]float64, workers)
	seen := make([][]bool, workers)
	compute := func(w, i, _ int) error {
		if scratch[w] == nil {
			scratch[w] = make([][]float64, len(s.Params))
			seen[w] = make([]bool, len(s.Params))
			for k := range scratch[w] {
				scratch[w][k] = make([]float64, width(k))
			}
		}
		acc := scratch[w]
		for k := range acc {
			clear(acc[k])
			seen[w][k] = false
		}
		hook := func(e model.HookEvent) {
			if e.Site != model.SiteInput {
				return
			}
			k, ok := scored[e.Param]
			if !ok || isEmbedding(m.Params[e.Param].Name) {
				return
			}
			a := acc[k]
			if len(a) != e.Cols {
				return // checked below: a shape mismatch leaves the tensor unseen
			}
			seen[w][k] = true
			for r := 0; r < e.Rows; r++ {
				for j, x := range e.X[r*e.Cols : (r+1)*e.Cols] {
					a[j] += float64(x) * float64(x)
				}
			}
		}
		p, err := m.Forward(seqs[i], &model.ForwardOptions{Hook: hook})
		if err != nil {
			return err
		}
		p.Release()
		for k, pi := range s.Params {
			if isEmbedding(m.Params[pi].Name) {
				for _, id := range seqs[i] {
					acc[k][id]++ // one-hot input: Σ x² = count
				}
				seen[w][k] = true
			}
		}
		return nil
	}
	reduce := func(w, _, _ int) {
		for k, a := range scratch[w] {
			seenTotal[k] = seenTotal[k] || seen[w][k]
			t := total[k]
			for j, v := range a {
				t[j] += v
			}
		}
	}
	if err := forSequencesOrdered(ctx, len(seqs), 1, workers, rep, phase, compute, reduce); err != nil {
		return err
	}
	s.norms = make([][]float32, len(s.Params))
	s.byRow = make([]bool, len(s.Params))
	var missing []string
	for k, p := range s.Params {
		t := m.Params[p]
		s.byRow[k] = isEmbedding(t.Name)
		if !seenTotal[k] {
			missing = append(missing, t.Name)
			continue
		}
		s.norms[k] = make([]float32, len(total[k]))
		for j, v := range total[k] {
			s.norms[k][j] = float32(math.Sqrt(v))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sensitivity: act_mag saw no input activations for %s (the model's hooks do not cover them)", strings.Join(missing, ", "))
	}
	note := fmt.Sprintf("act_mag = |w_ij|·‖X_j‖₂ over %d sequences (%d input positions per matrix)", s.Sequences, s.Tokens+s.Sequences)
	if len(embeds) > 0 {
		note += "; embeddings " + strings.Join(embeds, ", ") + " use the one-hot rule ‖X_t‖₂ = √count(t)"
		if m.Config.TiedEmbeds {
			note += " (tied: the head role of the shared matrix is not added)"
		}
	}
	s.Notes = append(s.Notes, note)
	return nil
}
