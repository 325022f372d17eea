package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hfTokenizer runs a Hugging Face tokenizer.json pipeline: added tokens are
// cut out of the raw text, the rest is normalized, pre-tokenized and fed to
// the BPE model word by word.
type hfTokenizer struct {
	model      *bpeModel
	normalizer normalizer
	pre        preTokenizer
	dec        decoder

	rawAdded  *addedSet // added tokens with normalized=false, matched in the raw text
	normAdded *addedSet // normalized=true, matched in normalized text

	idToToken []string
	known     []bool
	tokenToID map[string]int // added tokens first, then the model vocabulary
	special   map[string]bool

	bos, eos int
	addBOS   bool
}

// Encode tokenizes text without adding BOS/EOS. Invalid UTF-8 is first
// replaced by U+FFFD. A character that is neither in the vocabulary nor
// byte-representable, in a vocabulary without unk_token, is dropped (the
// reference library would fail the whole call); byte-level and byte_fallback
// vocabularies never drop anything.
func (t *hfTokenizer) Encode(text string) []int {
	text = validUTF8(text)
	var out []int
	for _, sg := range t.rawAdded.split(text) {
		if sg.id >= 0 {
			out = append(out, sg.id)
			continue
		}
		seg := text[sg.start:sg.end]
		if seg == "" {
			continue
		}
		if t.normalizer != nil {
			seg = t.normalizer.normalize(seg)
		}
		for _, sg2 := range t.normAdded.split(seg) {
			if sg2.id >= 0 {
				out = append(out, sg2.id)
				continue
			}
			sub := seg[sg2.start:sg2.end]
			if sub == "" {
				continue
			}
			ps := []piece{{sub, sg.start == 0 && sg2.start == 0}}
			if t.pre != nil {
				ps = t.pre.preTokenize(ps)
			}
			for _, p := range ps {
				out = t.model.tokenize(p.s, out)
			}
		}
	}
	return out
}

// Decode runs the tokenizer.json decoder over the pieces of ids; ids outside
// the vocabulary are skipped, as the reference does.
func (t *hfTokenizer) Decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.known) || !t.known[id] {
			continue
		}
		tok := t.idToToken[id]
		if skipSpecial && t.special[tok] {
			continue
		}
		toks = append(toks, tok)
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

func (t *hfTokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.known) {
		return ""
	}
	return t.idToToken[id]
}

func (t *hfTokenizer) VocabSize() int { return len(t.known) }
func (t *hfTokenizer) BOS() int       { return t.bos }
func (t *hfTokenizer) EOS() int       { return t.eos }
func (t *hfTokenizer) AddBOS() bool   { return t.addBOS && t.bos >= 0 }

// LoadHF loads a Hugging Face tokenizer.json (BPE models: SentencePiece-style
// with byte_fallback, or byte-level). tokenizerConfigPath names
// tokenizer_config.json for add_bos_token/bos_token/eos_token; "" uses the
// post_processor template and the family's defaults.
func LoadHF(tokenizerJSON string, tokenizerConfigPath string) (Tokenizer, error) {
	data, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		return nil, err
	}
	t, f, err := parseTokenizerJSON(data, tokenizerJSON)
	if err != nil {
		return nil, err
	}
	var sc specialConfig
	if tokenizerConfigPath != "" {
		if err := readTokenizerConfig(tokenizerConfigPath, &sc); err != nil {
			return nil, err
		}
	}
	if err := t.resolveSpecials(f, sc); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadHFDir loads dir/tokenizer.json with dir/tokenizer_config.json when
// present; BOS/EOS that tokenizer_config.json does not name come from
// generation_config.json, then config.json.
func LoadHFDir(dir string) (Tokenizer, error) {
	path := func(n string) string { return filepath.Join(dir, n) }
	data, err := os.ReadFile(path("tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, f, err := parseTokenizerJSON(data, path("tokenizer.json"))
	if err != nil {
		return nil, err
	}
	var sc specialConfig
	if err := readTokenizerConfig(path("tokenizer_config.json"), &sc); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, n := range []string{"generation_config.json", "config.json"} {
		if err := readModelIDs(path(n), &sc); err != nil {
			return nil, err
		}
	}
	if err := t.resolveSpecials(f, sc); err != nil {
		return nil, err
	}
	return t, nil
}
