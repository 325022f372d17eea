package tokenizer

import (
	"unicode/utf8"
)

// GPT-2's byte-level BPE works on a printable stand-in for every byte: the
// 188 bytes that are already visible Latin-1 characters stand for themselves
// and the other 68 (control characters, space, DEL, NBSP, soft hyphen) map to
// U+0100.. in byte order. Vocabularies of every byte-level tokenizer (GPT-2,
// GPT-NeoX, Llama-3, Qwen) are written in this alphabet.
var (
	byteToChar [256]rune
	charToByte map[rune]byte
	// byteToString caches string(byteToChar[b]) so encoding a word does not
	// allocate per byte.
	byteToString [256]string
)

func init() {
	visible := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	charToByte = make(map[rune]byte, 256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !visible(b) {
			r = rune(256 + n)
			n++
		}
		byteToChar[b] = r
		byteToString[b] = string(r)
		charToByte[r] = byte(b)
	}
}

// byteLevelMap rewrites every byte of s as its stand-in character.
func byteLevelMap(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToChar[s[i]])
	}
	return string(buf)
}

// utf8Lossy returns s with every invalid UTF-8 sequence replaced by one
// U+FFFD, using the "maximal subpart" rule of Rust's String::from_utf8_lossy
// (and WHATWG): a truncated but well-started sequence becomes a single
// replacement character. Go's range loop would instead emit one U+FFFD per
// byte, which would make our decodes differ from Hugging Face's.
func utf8Lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, c)
			i++
			continue
		}
		n := validSeqLen(b[i:])
		if n > 0 {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += -n
	}
	return string(out)
}

// validSeqLen looks at the multi-byte sequence starting at b[0]. It returns
// its length when valid, or minus the length of the maximal invalid subpart
// (at least 1 byte) otherwise.
func validSeqLen(b []byte) int {
	cont := func(i int) bool { return i < len(b) && b[i]&0xC0 == 0x80 }
	in := func(i int, lo, hi byte) bool { return i < len(b) && b[i] >= lo && b[i] <= hi }
	c := b[0]
	switch {
	case c >= 0xC2 && c <= 0xDF:
		if !cont(1) {
			return -1
		}
		return 2
	case c >= 0xE0 && c <= 0xEF:
		lo, hi := byte(0x80), byte(0xBF)
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
		if !in(1, lo, hi) {
			return -1
		}
		if !cont(2) {
			return -2
		}
		return 3
	case c >= 0xF0 && c <= 0xF4:
		lo, hi := byte(0x80), byte(0xBF)
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
		if !in(1, lo, hi) {
			return -1
		}
		if !cont(2) {
			return -2
		}
		if !cont(3) {
			return -3
		}
		return 4
	}
	return -1
}

// validUTF8 makes encoder input valid UTF-8 the same way (Hugging Face only
// ever sees Rust strings, which cannot hold invalid bytes).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return utf8Lossy([]byte(s))
}
