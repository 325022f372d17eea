package model

import (
	"context"
	"errors"

	"esa/stdlib/backend"
)

// Generate greedily extends prompt by up to n tokens (argmax, first index on
// ties, as llama2.c at temperature 0 and torch.argmax) and returns the new
// tokens. It stops before emitting eos (eos < 0: never) and at
// max_position_embeddings. The prompt is run once; every further token costs
// one single-row pass against a key/value cache. ctx is checked per token.
func (m *Model) Generate(ctx context.Context, prompt []int, n int, eos int) ([]int, error) {
	if err := m.checkIDs(prompt, 0); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errors.New("model: Generate with a negative token count")
	}
	c := m.Config
	total := len(prompt) + n
	if c.MaxSeqLen > 0 {
		total = min(total, c.MaxSeqLen)
	}
	e := m.engine32()
	be := e.be
	rope := m.ropeFor(e, total)
	kvd := c.KVHeads * c.HeadDim
	kv := &kvCache{}
	for l := 0; l < c.Layers; l++ {
		kv.k = append(kv.k, be.Alloc(total*kvd))
		kv.v = append(kv.v, be.Alloc(total*kvd))
	}
	ws := newWorkspace(be, m, len(prompt), false)
	row := make([]float32, c.Vocab)

	var out []int
	ids, pos := prompt, 0
	for pos+len(ids) <= total && len(out) < n {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		m.fam.forward(m, be, ws, rope, ids, pos, kv, nil, true)
		pos += len(ids)
		logits, ok := backend.HostF32(ws.lgt)
		if !ok {
			be.Download(row, ws.lgt)
			logits = row
		}
		next := argmax(logits[:c.Vocab])
		if next == eos {
			break
		}
		out = append(out, next)
		ids = []int{next}
	}
	return out, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
