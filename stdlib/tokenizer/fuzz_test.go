package tokenizer

import (
	"testing"
)

// Corrupt tokenizer files must give errors, never panics, and whatever loads
// must encode and decode without panicking.
func FuzzParseTokenizerJSON(f *testing.F) {
	f.Add([]byte(tinyByteLevel("")), "abc déf <|end|>")
	f.Add([]byte(`{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
		"decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
		"added_tokens": [{"id": 0, "content": "<unk>", "special": true}],
		"model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, "vocab": {"<unk>": 0, "▁": 1, "a": 2, "▁a": 3, "<0xC3>": 4}, "merges": ["▁ a"]}}`), "a a é")
	f.Add([]byte(`{"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
		"model": {"type": "BPE", "vocab": {"▁": 0, "x": 1}, "merges": []}}`), " x  x")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tk, f, err := parseTokenizerJSON(data, "fuzz.json")
		if err != nil {
			return
		}
		if err := tk.resolveSpecials(f, specialConfig{}); err != nil {
			return
		}
		ids := tk.Encode(text)
		tk.Decode(ids, false)
		tk.Decode(append(ids, -1, 1<<30), true)
	})
}

func FuzzLoadLlama2C(f *testing.F) {
	var toks []string
	toks = append(toks, "<unk>", "\n<s>\n", "\n</s>\n")
	for i := 0; i < 256; i++ {
		toks = append(toks, string([]byte{'<', '0', 'x', "0123456789ABCDEF"[i>>4], "0123456789ABCDEF"[i&15], '>'}))
	}
	toks = append(toks, " ", "a", " a")
	f.Add(llama2cFile(toks), "a a\xff")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tk, err := parseLlama2C(data, "fuzz.bin", 0)
		if err != nil {
			return
		}
		ids := tk.Encode(text)
		tk.Decode(ids, false)
	})
}
