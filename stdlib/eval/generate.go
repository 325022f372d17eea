package eval

import (
	"context"
	"errors"
	"strings"

	"esa/stdlib/model"
)

// Generation is a greedy continuation.
type Generation struct {
	Text   string `json:"text"`   // the decoded new tokens (the prompt is not repeated)
	Tokens []int  `json:"tokens"` // the new token ids
	Prompt []int  `json:"prompt"` // the prompt ids, BOS included when the tokenizer adds it
}

// Generate greedily continues prompt (BOS first when the tokenizer adds it;
// an empty prompt starts from BOS alone) by up to n tokens, stopping at EOS.
func Generate(ctx context.Context, m *model.Model, prompt string, n int) (Generation, error) {
	if m == nil {
		return Generation{}, errors.New("generate: no model")
	}
	tok := m.Tokenizer
	if tok == nil {
		return Generation{}, errors.New("generate: the model has no tokenizer (give one with --tokenizer)")
	}
	ids := Encode(tok, prompt)
	if len(ids) == 0 {
		if tok.BOS() < 0 {
			return Generation{}, errors.New("generate: empty prompt and the tokenizer has no BOS token to start from")
		}
		ids = []int{tok.BOS()}
	}
	eos := tok.EOS()
	if eos < 0 {
		eos = m.Config.EOS
	}
	out, err := m.Generate(ctx, ids, n, eos)
	if err != nil {
		return Generation{}, err
	}
	// Decode prompt and continuation together and cut the prompt off, so the
	// continuation keeps the space a SentencePiece decoder strips from the
	// first token of a sequence.
	text := tok.Decode(out, true)
	full, pre := tok.Decode(append(append([]int(nil), ids...), out...), true), tok.Decode(ids, true)
	if strings.HasPrefix(full, pre) {
		text = full[len(pre):]
	}
	return Generation{Text: text, Tokens: out, Prompt: ids}, nil
}
