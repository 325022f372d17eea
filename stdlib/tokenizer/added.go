package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json "added_tokens".
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

// normalized defaults to !special, as AddedToken::from does.
func (a addedToken) isNormalized() bool {
	if a.Normalized != nil {
		return *a.Normalized
	}
	return !a.Special
}

// addedSet finds added tokens in text with the crate's leftmost-longest
// rule: the match starting first wins, the longest among those.
type addedSet struct {
	tokens  []addedToken
	pattern []string     // what to look for (normalized content for normalized tokens)
	byFirst [256][]int32 // candidate indices per first byte, longest first
	any     bool
}

func newAddedSet(tokens []addedToken, patterns []string) *addedSet {
	s := &addedSet{tokens: tokens, pattern: patterns}
	for i, p := range patterns {
		if p == "" {
			continue
		}
		s.byFirst[p[0]] = append(s.byFirst[p[0]], int32(i))
		s.any = true
	}
	for _, c := range s.byFirst {
		sort.SliceStable(c, func(a, b int) bool { return len(patterns[c[a]]) > len(patterns[c[b]]) })
	}
	return s
}

// segment is a byte range of the text, either an added token (id >= 0) or
// plain text (id -1).
type segment struct {
	start, end int
	id         int
}

// split covers s with plain and added-token segments (find_matches in
// added_vocabulary.rs, including single_word, lstrip and rstrip).
func (a *addedSet) split(s string) []segment {
	if a == nil || !a.any || s == "" {
		return []segment{{0, len(s), -1}}
	}
	var out []segment
	startOffset := 0
	for i := 0; i < len(s); {
		k := a.longestAt(s, i)
		if k < 0 {
			i++
			continue
		}
		start, stop := i, i+len(a.pattern[k])
		i = stop // matches never overlap, even a discarded one
		tok := a.tokens[k]
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			ns := start
			for ns > 0 {
				r, size := utf8.DecodeLastRuneInString(s[:ns])
				if !unicode.IsSpace(r) {
					break
				}
				ns -= size
			}
			start = max(ns, startOffset)
		}
		if tok.RStrip {
			for stop < len(s) {
				r, size := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += size
			}
			i = stop
		}
		if startOffset < start {
			out = append(out, segment{startOffset, start, -1})
		}
		out = append(out, segment{start, stop, tok.ID})
		startOffset = stop
	}
	if startOffset != len(s) {
		out = append(out, segment{startOffset, len(s), -1})
	}
	return out
}

func (a *addedSet) longestAt(s string, i int) int {
	for _, k := range a.byFirst[s[i]] {
		p := a.pattern[k]
		if len(s)-i >= len(p) && s[i:i+len(p)] == p {
			return int(k)
		}
	}
	return -1
}

// isWordChar is Rust regex's Unicode \w.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Join_Control, r) || unicode.Is(unicode.Nl, r)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}
