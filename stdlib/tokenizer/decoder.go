package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings back into text (tokenizer.json "decoder").
// Like the crate's decode_chain, each step maps a list of strings to a list
// of strings; the results are concatenated at the end.
type decoder interface {
	decodeChain(tokens []string) []string
}

type decSequence []decoder

func (q decSequence) decodeChain(t []string) []string {
	for _, d := range q {
		t = d.decodeChain(t)
	}
	return t
}

type decReplace struct {
	pattern matcher
	content string
}

func (r decReplace) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		out[i] = replaceAll(r.pattern, s, r.content)
	}
	return out
}

// decByteFallback turns runs of <0xNN> tokens back into bytes; a run that is
// not valid UTF-8 becomes one U+FFFD per byte, as in the crate.
type decByteFallback struct{}

func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func (decByteFallback) decodeChain(t []string) []string {
	out := make([]string, 0, len(t))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, s := range t {
		if b, ok := parseByteToken(s); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, s)
	}
	flush()
	return out
}

type decFuse struct{}

func (decFuse) decodeChain(t []string) []string { return []string{strings.Join(t, "")} }

// decStrip removes up to start leading and stop trailing copies of content
// from every token.
type decStrip struct {
	content     rune
	start, stop int
}

func (d decStrip) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		rs := []rune(s)
		lo := 0
		for lo < d.start && lo < len(rs) && rs[lo] == d.content {
			lo++
		}
		hi := len(rs)
		for n := 0; n < d.stop && hi > lo && rs[hi-1] == d.content; n++ {
			hi--
		}
		out[i] = string(rs[lo:hi])
	}
	return out
}

// decByteLevel maps stand-in characters back to bytes; a token holding any
// other character keeps its own UTF-8 bytes (added tokens such as
// "<|endoftext|>" are written in plain text).
type decByteLevel struct{}

func (decByteLevel) decodeChain(t []string) []string {
	var buf []byte
	for _, s := range t {
		start := len(buf)
		plain := false
		for _, c := range s {
			b, ok := charToByte[c]
			if !ok {
				plain = true
				break
			}
			buf = append(buf, b)
		}
		if plain {
			buf = append(buf[:start], s...)
		}
	}
	return []string{utf8Lossy(buf)}
}

// decMetaspace turns the replacement character back into spaces, dropping
// it in the first token when encoding prepends one.
type decMetaspace struct {
	replacement rune
	prepend     int
}

func (d decMetaspace) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		var b strings.Builder
		for _, c := range s {
			switch {
			case c != d.replacement:
				b.WriteRune(c)
			case i == 0 && d.prepend != prependNever:
			default:
				b.WriteByte(' ')
			}
		}
		out[i] = b.String()
	}
	return out
}

const supportedDecoders = "Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace"

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decoder: %v", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Sequence: %v", err)
		}
		var q decSequence
		for _, r := range v.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	case "Replace":
		var v struct {
			Pattern patternJSON `json:"pattern"`
			Content string      `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Replace: %v", err)
		}
		m, err := v.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %v", err)
		}
		return decReplace{pattern: m, content: v.Content}, nil
	case "ByteFallback":
		return decByteFallback{}, nil
	case "Fuse":
		return decFuse{}, nil
	case "Strip":
		var v struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Strip: %v", err)
		}
		if utf8.RuneCountInString(v.Content) != 1 || v.Start < 0 || v.Stop < 0 {
			return nil, fmt.Errorf("decoder Strip: content must be one character and start/stop non-negative, got %q, %d, %d", v.Content, v.Start, v.Stop)
		}
		c, _ := utf8.DecodeRuneInString(v.Content)
		return decStrip{content: c, start: v.Start, stop: v.Stop}, nil
	case "ByteLevel":
		return decByteLevel{}, nil
	case "Metaspace":
		var v struct {
			Replacement    string  `json:"replacement"`
			AddPrefixSpace *bool   `json:"add_prefix_space"`
			PrependScheme  *string `json:"prepend_scheme"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %v", err)
		}
		m, err := metaspaceConfig(v.Replacement, v.AddPrefixSpace, v.PrependScheme)
		if err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %v", err)
		}
		c, _ := utf8.DecodeRuneInString(m.replacement)
		return decMetaspace{replacement: c, prepend: m.prepend}, nil
	}
	return nil, fmt.Errorf("unsupported decoder type %q (supported: %s)", t.Type, supportedDecoders)
}
