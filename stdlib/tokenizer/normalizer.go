package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization
// (tokenizer.json "normalizer").
type normalizer interface {
	normalize(s string) string
}

type normSequence []normalizer

func (q normSequence) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// normPrepend is the Llama-2/Mistral "▁" prefix; like the crate it leaves an
// empty segment empty.
type normPrepend string

func (p normPrepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(p) + s
}

type normAppend string

func (p normAppend) normalize(s string) string {
	if s == "" {
		return s
	}
	return s + string(p)
}

type normReplace struct {
	pattern matcher
	content string
}

func (r normReplace) normalize(s string) string { return replaceAll(r.pattern, s, r.content) }

type normUnicode struct{ form norm.Form }

func (u normUnicode) normalize(s string) string { return u.form.String(s) }

type normLowercase struct{}

func (normLowercase) normalize(s string) string { return strings.ToLower(s) }

type normStrip struct{ left, right bool }

func (st normStrip) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// typed is the "type" tag every tokenizer.json component carries.
type typed struct {
	Type string `json:"type"`
}

// patternJSON is {"String": "..."} or {"Regex": "..."}.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func (p patternJSON) compile() (matcher, error) {
	switch {
	case p.String != nil:
		return literal(*p.String), nil
	case p.Regex != nil:
		if fast := fastRegex(*p.Regex); fast != nil {
			return fast, nil
		}
		return compileRegex(*p.Regex)
	}
	return nil, fmt.Errorf(`pattern needs "String" or "Regex"`)
}

const supportedNormalizers = "Sequence, Prepend, Append, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip"

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("normalizer: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %v", err)
		}
		var q normSequence
		for _, r := range v.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	case "Prepend", "Append":
		var v struct {
			Prepend *string `json:"prepend"`
			Append  *string `json:"append"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer %s: %v", t.Type, err)
		}
		if t.Type == "Prepend" {
			if v.Prepend == nil {
				return nil, fmt.Errorf(`normalizer Prepend: missing "prepend"`)
			}
			return normPrepend(*v.Prepend), nil
		}
		if v.Append == nil {
			return nil, fmt.Errorf(`normalizer Append: missing "append"`)
		}
		return normAppend(*v.Append), nil
	case "Replace":
		var v struct {
			Pattern patternJSON `json:"pattern"`
			Content string      `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Replace: %v", err)
		}
		m, err := v.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %v", err)
		}
		return normReplace{pattern: m, content: v.Content}, nil
	case "NFC":
		return normUnicode{norm.NFC}, nil
	case "NFD":
		return normUnicode{norm.NFD}, nil
	case "NFKC":
		return normUnicode{norm.NFKC}, nil
	case "NFKD":
		return normUnicode{norm.NFKD}, nil
	case "Lowercase":
		return normLowercase{}, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %v", err)
		}
		return normStrip{left: v.Left, right: v.Right}, nil
	}
	return nil, fmt.Errorf("unsupported normalizer type %q (supported: %s)", t.Type, supportedNormalizers)
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
