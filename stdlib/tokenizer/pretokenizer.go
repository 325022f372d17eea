package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is a run of normalized text on its way to the model. first says it
// starts at offset 0 of the original text (Metaspace's prepend_scheme "first").
type piece struct {
	s     string
	first bool
}

// preTokenizer cuts pieces into the words BPE sees (tokenizer.json
// "pre_tokenizer"); empty results are dropped, as the crate does.
type preTokenizer interface {
	preTokenize(ps []piece) []piece
}

type preSequence []preTokenizer

func (q preSequence) preTokenize(ps []piece) []piece {
	for _, p := range q {
		ps = p.preTokenize(ps)
	}
	return ps
}

// gpt2Pattern is the pre-tokenizer regex of GPT-2, used by ByteLevel when
// use_regex is true.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// preByteLevel optionally prepends a space, splits with GPT-2's regex and
// rewrites every byte as its stand-in character.
type preByteLevel struct {
	addPrefixSpace bool
	split          matcher // nil when use_regex is false
}

func (b preByteLevel) preTokenize(ps []piece) []piece {
	out := make([]piece, 0, len(ps))
	for _, p := range ps {
		s := p.s
		if b.addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		if b.split == nil {
			if s != "" {
				out = append(out, piece{byteLevelMap(s), p.first})
			}
			continue
		}
		for i, r := range splitBy(s, b.split, splitIsolated, false) {
			out = append(out, piece{byteLevelMap(s[r[0]:r[1]]), p.first && i == 0 && r[0] == 0})
		}
	}
	return out
}

type preSplit struct {
	pattern  matcher
	behavior splitBehavior
	invert   bool
}

func (sp preSplit) preTokenize(ps []piece) []piece {
	out := make([]piece, 0, len(ps))
	for _, p := range ps {
		for _, r := range splitBy(p.s, sp.pattern, sp.behavior, sp.invert) {
			out = append(out, piece{p.s[r[0]:r[1]], p.first && r[0] == 0})
		}
	}
	return out
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

type preMetaspace struct {
	replacement string
	prepend     int
	split       bool
}

func (m preMetaspace) preTokenize(ps []piece) []piece {
	out := make([]piece, 0, len(ps))
	rep := literal(m.replacement)
	for _, p := range ps {
		s := strings.ReplaceAll(p.s, " ", m.replacement)
		if !strings.HasPrefix(s, m.replacement) &&
			(m.prepend == prependAlways || (m.prepend == prependFirst && p.first)) {
			s = m.replacement + s
		}
		if !m.split {
			if s != "" {
				out = append(out, piece{s, p.first})
			}
			continue
		}
		for _, r := range splitBy(s, rep, splitMergedWithNext, false) {
			out = append(out, piece{s[r[0]:r[1]], p.first && r[0] == 0})
		}
	}
	return out
}

type preDigits struct{ individual bool }

func (d preDigits) preTokenize(ps []piece) []piece {
	behavior := splitContiguous
	if d.individual {
		behavior = splitIsolated
	}
	return preSplit{pattern: charMatcher(unicode.IsNumber), behavior: behavior}.preTokenize(ps)
}

const supportedPreTokenizers = "Sequence, ByteLevel, Split, Metaspace, Digits"

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: %v", err)
		}
		var q preSequence
		for _, r := range v.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	case "ByteLevel":
		v := struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %v", err)
		}
		b := preByteLevel{addPrefixSpace: v.AddPrefixSpace == nil || *v.AddPrefixSpace}
		if v.UseRegex == nil || *v.UseRegex {
			m, err := patternJSON{Regex: ptr(gpt2Pattern)}.compile()
			if err != nil {
				return nil, err
			}
			b.split = m
		}
		return b, nil
	case "Split":
		var v struct {
			Pattern  patternJSON `json:"pattern"`
			Behavior string      `json:"behavior"`
			Invert   bool        `json:"invert"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %v", err)
		}
		m, err := v.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %v", err)
		}
		b, ok := splitBehaviors[v.Behavior]
		if !ok {
			return nil, fmt.Errorf("pre_tokenizer Split: unknown behavior %q (valid: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", v.Behavior)
		}
		return preSplit{pattern: m, behavior: b, invert: v.Invert}, nil
	case "Metaspace":
		var v struct {
			Replacement    string  `json:"replacement"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
			PrependScheme  *string `json:"prepend_scheme"`
			Split          *bool   `json:"split"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %v", err)
		}
		m, err := metaspaceConfig(v.Replacement, v.AddPrefixSpace, v.PrependScheme)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %v", err)
		}
		m.split = v.Split == nil || *v.Split
		return m, nil
	case "Digits":
		var v struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Digits: %v", err)
		}
		return preDigits{individual: v.Individual}, nil
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer type %q (supported: %s)", t.Type, supportedPreTokenizers)
}

// metaspaceConfig reads the Metaspace fields shared by the pre-tokenizer and
// the decoder. Files written before tokenizers 0.14 carry add_prefix_space
// instead of prepend_scheme.
func metaspaceConfig(replacement string, addPrefixSpace *bool, scheme *string) (preMetaspace, error) {
	if utf8.RuneCountInString(replacement) != 1 {
		return preMetaspace{}, fmt.Errorf("replacement must be one character, got %q", replacement)
	}
	m := preMetaspace{replacement: replacement, prepend: prependAlways}
	if scheme != nil {
		switch *scheme {
		case "always":
			m.prepend = prependAlways
		case "first":
			m.prepend = prependFirst
		case "never":
			m.prepend = prependNever
		default:
			return m, fmt.Errorf("unknown prepend_scheme %q (valid: always, first, never)", *scheme)
		}
	}
	if addPrefixSpace != nil && !*addPrefixSpace {
		if scheme != nil && *scheme != "never" {
			return m, fmt.Errorf("add_prefix_space false contradicts prepend_scheme %q", *scheme)
		}
		m.prepend = prependNever
	}
	return m, nil
}

func ptr[T any](v T) *T { return &v }
