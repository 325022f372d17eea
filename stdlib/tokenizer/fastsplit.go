package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The two pre-tokenizer regexes nearly every byte-level tokenizer uses are
// matched by hand-written scanners instead of regexp2's backtracking engine
// (several times faster). Each scanner walks the alternatives in the
// pattern's order with the same greedy/backtracking outcome; the tests check
// them against regexp2 on fuzzed text and against Python's regex module.

// llama3Pattern is Llama-3's Split pre-tokenizer regex, verbatim.
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// qwen2Pattern is Llama-3's with single digits (Qwen2 and later).
const qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// fastRegex returns a scanner for a pattern it knows, else nil.
func fastRegex(pattern string) matcher {
	switch pattern {
	case gpt2Pattern:
		return scanner(gpt2Next)
	case llama3Pattern:
		return scanner(func(s string, i int) int { return llama3Next(s, i, 3) })
	case qwen2Pattern:
		return scanner(func(s string, i int) int { return llama3Next(s, i, 1) })
	}
	return nil
}

// scanner applies next at successive positions; next returns the end of the
// match starting at i (every position starts a match for these patterns).
type scanner func(s string, i int) int

func (f scanner) findAll(s string) [][2]int {
	out := make([][2]int, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		j := f(s, i)
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// Character classes: \p{L}, \p{N}, and \s (Unicode White_Space, which is
// what unicode.IsSpace tests and what regexp2 uses for \s).
func isL(r rune) bool {
	return r >= 0 && (r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') || r >= utf8.RuneSelf && unicode.IsLetter(r))
}
func isN(r rune) bool {
	return r >= 0 && (r < utf8.RuneSelf && '0' <= r && r <= '9' || r >= utf8.RuneSelf && unicode.IsNumber(r))
}
func isS(r rune) bool     { return r >= 0 && unicode.IsSpace(r) }
func isOther(r rune) bool { return r >= 0 && !isS(r) && !isL(r) && !isN(r) }

// run returns the end of the longest run of class starting at i.
func run(s string, i int, class func(rune) bool) int {
	for i < len(s) {
		r, n := runeAt(s, i)
		if !class(r) {
			break
		}
		i += n
	}
	return i
}

// contraction matches 's 't 're 've 'm 'll 'd at i, returning the end or -1.
// With fold (the pattern's (?i:...)) the letters match in either case, and
// "ſ" (U+017F LATIN SMALL LETTER LONG S) matches "s": it case-folds to "s",
// and Oniguruma (Hugging Face's engine) and Python's regex both take it.
// regexp2 compares lower-cased runes and does not, which is the one place
// the scanner knowingly differs from it.
func contraction(s string, i int, fold bool) int {
	if i >= len(s) || s[i] != '\'' {
		return -1
	}
	if fold && strings.HasPrefix(s[i+1:], "\u017f") {
		return i + 3
	}
	low := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		c := s[k]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch c := low(i + 1); c {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if low(i+2) == 'e' {
			return i + 3
		}
	case 'l':
		if low(i+2) == 'l' {
			return i + 3
		}
	}
	return -1
}

// whitespace handles the trailing \s+(?!\S)|\s+ alternatives at a space
// character: the whole run when it ends the text or is a single character,
// else the run less its last character (which then opens the next word).
func whitespace(s string, i int) int {
	j := run(s, i, isS)
	if j == len(s) {
		return j
	}
	_, n := utf8.DecodeLastRuneInString(s[:j])
	if j-n > i {
		return j - n
	}
	return j
}

// gpt2Next: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func gpt2Next(s string, i int) int {
	if j := contraction(s, i, false); j >= 0 {
		return j
	}
	c, n := runeAt(s, i)
	k := i // where the class run starts, after an optional leading space
	d := c
	if c == ' ' {
		d, _ = runeAt(s, i+1)
		k = i + 1
	}
	switch {
	case isL(d):
		return run(s, k, isL)
	case isN(d):
		return run(s, k, isN)
	case isOther(d):
		return run(s, k, isOther)
	}
	if isS(c) {
		return whitespace(s, i)
	}
	return i + n // unreachable: every character is in one class
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

// llama3Next: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,digits}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func llama3Next(s string, i int, digits int) int {
	if j := contraction(s, i, true); j >= 0 {
		return j
	}
	c, n := runeAt(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(c) {
		return run(s, i, isL)
	}
	if !isCRLF(c) && !isN(c) {
		if d, _ := runeAt(s, i+n); isL(d) {
			return run(s, i+n, isL)
		}
	}
	// \p{N}{1,digits}
	if isN(c) {
		j := i + n
		for k := 1; k < digits; k++ {
			d, m := runeAt(s, j)
			if !isN(d) {
				break
			}
			j += m
		}
		return j
	}
	// ?[^\s\p{L}\p{N}]+[\r\n]*
	k := i
	if c == ' ' {
		k = i + 1
	}
	if d, _ := runeAt(s, k); isOther(d) {
		return run(s, run(s, k, isOther), isCRLF)
	}
	// \s*[\r\n]+ : the whitespace run up to its last newline
	j := run(s, i, isS)
	for p := j; p > i; {
		r, m := utf8.DecodeLastRuneInString(s[:p])
		if isCRLF(r) {
			return p
		}
		p -= m
	}
	if isS(c) {
		return whitespace(s, i)
	}
	return i + n // unreachable
}
