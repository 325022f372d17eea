package tokenizer

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// tokenizerFile is the subset of tokenizer.json this package reads.
type tokenizerFile struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type modelJSON struct {
	Vocab        map[string]int64 `json:"vocab"`
	Merges       []mergeJSON      `json:"merges"`
	UnkToken     *string          `json:"unk_token"`
	FuseUnk      bool             `json:"fuse_unk"`
	ByteFallback bool             `json:"byte_fallback"`
	IgnoreMerges bool             `json:"ignore_merges"`
	ContPrefix   *string          `json:"continuing_subword_prefix"`
	EndSuffix    *string          `json:"end_of_word_suffix"`
	Dropout      *float64         `json:"dropout"`
}

// mergeJSON is one merge, written "a b" (older files) or ["a", "b"].
type mergeJSON [2]string

func (m *mergeJSON) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parts := strings.Split(s, " ")
		if len(parts) != 2 {
			return fmt.Errorf("merge %q is not two tokens separated by one space", s)
		}
		*m = mergeJSON{parts[0], parts[1]}
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("merge %s is neither \"a b\" nor [\"a\", \"b\"]", b)
	}
	if len(a) != 2 {
		return fmt.Errorf("merge %s does not have two tokens", b)
	}
	*m = mergeJSON{a[0], a[1]}
	return nil
}

// parseTokenizerJSON builds the pipeline from tokenizer.json contents; name
// is used in error messages.
func parseTokenizerJSON(data []byte, name string) (*hfTokenizer, *tokenizerFile, error) {
	fail := func(err error) (*hfTokenizer, *tokenizerFile, error) {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fail(err)
	}
	if isNull(f.Model) {
		return fail(fmt.Errorf(`no "model"`))
	}
	var mt struct {
		Type   string          `json:"type"`
		Merges json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(f.Model, &mt); err != nil {
		return fail(fmt.Errorf("model: %v", err))
	}
	if mt.Type == "" && mt.Merges != nil {
		mt.Type = "BPE" // very old files omit the tag
	}
	if mt.Type != "BPE" {
		return fail(fmt.Errorf("unsupported model type %q (supported: BPE)", mt.Type))
	}
	var mj modelJSON
	if err := json.Unmarshal(f.Model, &mj); err != nil {
		return fail(fmt.Errorf("model: %v", err))
	}
	if mj.Dropout != nil && *mj.Dropout != 0 {
		return fail(fmt.Errorf("BPE dropout %g is not supported (encoding would be random)", *mj.Dropout))
	}
	t := &hfTokenizer{tokenToID: map[string]int{}, special: map[string]bool{}}
	vocab := make(map[string]int32, len(mj.Vocab))
	maxID := -1
	for s, id := range mj.Vocab {
		if id < 0 || id > math.MaxInt32-1 {
			return fail(fmt.Errorf("model.vocab: token %q has invalid id %d", s, id))
		}
		vocab[s] = int32(id)
		maxID = max(maxID, int(id))
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID > math.MaxInt32-1 {
			return fail(fmt.Errorf("added_tokens: token %q has invalid id %d", a.Content, a.ID))
		}
		maxID = max(maxID, a.ID)
	}
	// 1<<24 ids is far beyond any real vocabulary; it bounds what a corrupt
	// file can make us allocate.
	if maxID >= 1<<24 {
		return fail(fmt.Errorf("vocabulary id %d is implausibly large", maxID))
	}
	t.idToToken = make([]string, maxID+1)
	t.known = make([]bool, maxID+1)
	for s, id := range vocab {
		// Two strings on one id: keep the smaller, so loading is deterministic.
		if !t.known[id] || s < t.idToToken[id] {
			t.idToToken[id] = s
		}
		t.known[id] = true
		t.tokenToID[s] = int(id)
	}
	merges := make([][2]string, len(mj.Merges))
	for i, m := range mj.Merges {
		merges[i] = m
	}
	var err error
	cp, es := "", ""
	if mj.ContPrefix != nil {
		cp = *mj.ContPrefix
	}
	if mj.EndSuffix != nil {
		es = *mj.EndSuffix
	}
	t.model, err = newBPE(vocab, merges, mj.UnkToken, mj.FuseUnk, mj.ByteFallback, mj.IgnoreMerges, cp, es)
	if err != nil {
		return fail(err)
	}
	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return fail(err)
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return fail(err)
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return fail(err)
	}
	var raw, norm []addedToken
	var rawPat, normPat []string
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			continue
		}
		t.idToToken[a.ID] = a.Content
		t.known[a.ID] = true
		t.tokenToID[a.Content] = a.ID
		if a.Special {
			t.special[a.Content] = true
		}
		if a.isNormalized() {
			norm = append(norm, a)
			p := a.Content
			if t.normalizer != nil {
				p = t.normalizer.normalize(p)
			}
			normPat = append(normPat, p)
		} else {
			raw = append(raw, a)
			rawPat = append(rawPat, a.Content)
		}
	}
	t.rawAdded = newAddedSet(raw, rawPat)
	t.normAdded = newAddedSet(norm, normPat)
	return t, &f, nil
}
