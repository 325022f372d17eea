package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// matcher finds the non-overlapping matches of a pattern, as byte offsets.
type matcher interface {
	findAll(s string) [][2]int
}

// literal matches every occurrence of a fixed string ({"String": "..."} patterns).
type literal string

func (l literal) findAll(s string) [][2]int {
	var out [][2]int
	if l == "" {
		return nil
	}
	for off := 0; ; {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return out
		}
		out = append(out, [2]int{off + i, off + i + len(l)})
		off += i + len(l)
	}
}

// regex matches a tokenizer.json {"Regex": "..."} pattern. Hugging Face
// compiles those with Oniguruma; regexp2 (.NET syntax) supports the same
// constructs the published pre-tokenizers use — lookahead (?!\S), \p{L},
// \p{N}, scoped (?i:...) — which Go's regexp lacks. Its \s is .NET's
// [\f\n\r\t\v\x85\p{Z}], the Unicode White_Space set.
type regex struct {
	re *regexp2.Regexp
}

func compileRegex(pattern string) (*regex, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %v", pattern, err)
	}
	return &regex{re: re}, nil
}

func (r *regex) findAll(s string) [][2]int {
	if s == "" {
		return nil
	}
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1) // byte offset of every rune, and len(s)
	for i, c := range s {
		runes = append(runes, c)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	var out [][2]int
	// Errors come only from match timeouts, which are not set.
	m, _ := r.re.FindRunesMatch(runes)
	for m != nil {
		out = append(out, [2]int{offs[m.Index], offs[m.Index+m.Length]})
		m, _ = r.re.FindNextMatch(m)
	}
	return out
}

// replaceAll replaces every match with repl (Replace normalizers/decoders).
func replaceAll(m matcher, s, repl string) string {
	ms := m.findAll(s)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, x := range ms {
		b.WriteString(s[prev:x[0]])
		b.WriteString(repl)
		prev = x[1]
	}
	b.WriteString(s[prev:])
	return b.String()
}

// charMatcher matches single characters one by one (the crate's
// Fn(char) -> bool patterns, e.g. Digits).
type charMatcher func(rune) bool

func (f charMatcher) findAll(s string) [][2]int {
	var out [][2]int
	for i, c := range s {
		if f(c) {
			out = append(out, [2]int{i, i + utf8.RuneLen(c)})
		}
	}
	return out
}

// splitBehavior is tokenizer.json's SplitDelimiterBehavior.
type splitBehavior int

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

var splitBehaviors = map[string]splitBehavior{
	"Removed":            splitRemoved,
	"Isolated":           splitIsolated,
	"MergedWithPrevious": splitMergedWithPrevious,
	"MergedWithNext":     splitMergedWithNext,
	"Contiguous":         splitContiguous,
}

type span struct {
	start, end int
	match      bool
}

// splitBy cuts s at the matches of m the way NormalizedString::split does,
// returning the byte ranges of the non-empty parts.
func splitBy(s string, m matcher, behavior splitBehavior, invert bool) [][2]int {
	if s == "" {
		return nil
	}
	// Cover s with alternating non-match / match spans.
	var spans []span
	prev := 0
	for _, x := range m.findAll(s) {
		if prev != x[0] {
			spans = append(spans, span{prev, x[0], invert})
		}
		spans = append(spans, span{x[0], x[1], !invert})
		prev = x[1]
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	var parts [][2]int
	switch behavior {
	case splitRemoved:
		for _, sp := range spans {
			if !sp.match {
				parts = append(parts, [2]int{sp.start, sp.end})
			}
		}
	case splitIsolated:
		for _, sp := range spans {
			parts = append(parts, [2]int{sp.start, sp.end})
		}
	case splitContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(parts) > 0 {
				parts[len(parts)-1][1] = sp.end
			} else {
				parts = append(parts, [2]int{sp.start, sp.end})
			}
			prevMatch = sp.match
		}
	case splitMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(parts) > 0 {
				parts[len(parts)-1][1] = sp.end
			} else {
				parts = append(parts, [2]int{sp.start, sp.end})
			}
			prevMatch = sp.match
		}
	case splitMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(parts) > 0 {
				parts[len(parts)-1][0] = sp.start
			} else {
				parts = append(parts, [2]int{sp.start, sp.end})
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	out := parts[:0]
	for _, p := range parts {
		if p[1] > p[0] {
			out = append(out, p)
		}
	}
	return out
}
