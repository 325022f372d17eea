package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
)

// sentencePieceStyle says whether the pipeline is the Llama-2 kind, whose
// tokenizers add BOS by default.
func (t *hfTokenizer) sentencePieceStyle() bool {
	if t.model.byteFallback {
		return true
	}
	var walkN func(n normalizer) bool
	walkN = func(n normalizer) bool {
		switch v := n.(type) {
		case normPrepend:
			return true
		case normSequence:
			for _, x := range v {
				if walkN(x) {
					return true
				}
			}
		}
		return false
	}
	var walkP func(p preTokenizer) bool
	walkP = func(p preTokenizer) bool {
		switch v := p.(type) {
		case preMetaspace:
			return true
		case preSequence:
			for _, x := range v {
				if walkP(x) {
					return true
				}
			}
		}
		return false
	}
	return walkN(t.normalizer) || walkP(t.pre)
}

// templateBOS reads the post_processor: if its single-sequence template
// starts with a special token, that token is the BOS the tokenizer adds.
// found is false when there is no template to read.
func templateBOS(raw json.RawMessage) (bos string, adds, found bool) {
	if isNull(raw) {
		return "", false, false
	}
	var v struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return "", false, false
	}
	switch v.Type {
	case "TemplateProcessing":
		if len(v.Single) > 0 && v.Single[0].SpecialToken != nil {
			return v.Single[0].SpecialToken.ID, true, true
		}
		return "", false, true
	case "Sequence":
		for _, p := range v.Processors {
			if b, a, f := templateBOS(p); f {
				return b, a, f
			}
		}
	}
	return "", false, false
}

// specialConfig is what tokenizer_config.json, generation_config.json and
// config.json say about BOS/EOS.
type specialConfig struct {
	addBOS         *bool
	bosTok, eosTok *string // from tokenizer_config.json
	bosID, eosID   *int    // from generation_config.json / config.json
	bosSrc, eosSrc string  // file names, for errors
}

// readTokenizerConfig reads add_bos_token, bos_token and eos_token.
func readTokenizerConfig(path string, sc *specialConfig) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var v struct {
		AddBOS *bool           `json:"add_bos_token"`
		BOS    json.RawMessage `json:"bos_token"`
		EOS    json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	sc.addBOS = v.AddBOS
	tok := func(raw json.RawMessage, field string) (*string, error) {
		if isNull(raw) {
			return nil, nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return &s, nil
		}
		var o struct {
			Content *string `json:"content"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Content != nil {
			return o.Content, nil
		}
		return nil, fmt.Errorf("%s: %s is neither a string nor {\"content\": ...}", path, field)
	}
	if sc.bosTok, err = tok(v.BOS, "bos_token"); err != nil {
		return err
	}
	if sc.eosTok, err = tok(v.EOS, "eos_token"); err != nil {
		return err
	}
	sc.bosSrc, sc.eosSrc = path, path
	return nil
}

// readModelIDs fills bos/eos ids from generation_config.json or config.json
// (eos_token_id may be a list; its first entry is the EOS). Values already
// set win.
func readModelIDs(path string, sc *specialConfig) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var v struct {
		BOS json.RawMessage `json:"bos_token_id"`
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	id := func(raw json.RawMessage, field string) (*int, error) {
		if isNull(raw) {
			return nil, nil
		}
		var n int
		if json.Unmarshal(raw, &n) == nil {
			return &n, nil
		}
		var l []int
		if json.Unmarshal(raw, &l) == nil {
			if len(l) == 0 {
				return nil, nil
			}
			return &l[0], nil
		}
		return nil, fmt.Errorf("%s: %s is neither an integer nor a list of integers", path, field)
	}
	if sc.bosID == nil && sc.bosTok == nil {
		if sc.bosID, err = id(v.BOS, "bos_token_id"); err != nil {
			return err
		}
		if sc.bosID != nil {
			sc.bosSrc = path
		}
	}
	if sc.eosID == nil && sc.eosTok == nil {
		if sc.eosID, err = id(v.EOS, "eos_token_id"); err != nil {
			return err
		}
		if sc.eosID != nil {
			sc.eosSrc = path
		}
	}
	return nil
}

// Candidate BOS/EOS spellings of the common families, tried when no config
// names them.
var (
	bosCandidates = []string{"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"}
	eosCandidates = []string{"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"}
)

// resolveSpecials settles BOS, EOS and AddBOS: tokenizer_config.json first,
// then generation_config.json / config.json ids, then the post_processor
// template, then the family's usual token names.
func (t *hfTokenizer) resolveSpecials(f *tokenizerFile, sc specialConfig) error {
	lookup := func(tok *string, id *int, src, what string, fallback string, candidates []string) (int, error) {
		switch {
		case tok != nil:
			n, ok := t.tokenToID[*tok]
			if !ok {
				return -1, fmt.Errorf("%s: %s %q is not in the vocabulary", src, what, *tok)
			}
			return n, nil
		case id != nil:
			if *id < 0 || *id >= len(t.known) || !t.known[*id] {
				return -1, fmt.Errorf("%s: %s id %d is outside the vocabulary (size %d)", src, what, *id, len(t.known))
			}
			return *id, nil
		}
		if fallback != "" {
			if n, ok := t.tokenToID[fallback]; ok {
				return n, nil
			}
		}
		for _, c := range candidates {
			if n, ok := t.tokenToID[c]; ok {
				return n, nil
			}
		}
		return -1, nil
	}
	tmplBOS, tmplAdds, tmplFound := templateBOS(f.PostProcessor)
	var err error
	if t.bos, err = lookup(sc.bosTok, sc.bosID, sc.bosSrc, "bos_token", tmplBOS, bosCandidates); err != nil {
		return err
	}
	if t.eos, err = lookup(sc.eosTok, sc.eosID, sc.eosSrc, "eos_token", "", eosCandidates); err != nil {
		return err
	}
	switch {
	case sc.addBOS != nil:
		t.addBOS = *sc.addBOS
	case tmplFound:
		t.addBOS = tmplAdds
	default:
		t.addBOS = t.sentencePieceStyle()
	}
	return nil
}
