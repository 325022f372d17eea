package tokenizer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"esa/internal/testmodels"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A minimal byte-level tokenizer.json: the 256 byte characters, "ab" and
// "abc", with one merge in each spelling; extra is spliced in at top level.
func tinyByteLevel(extra string) string {
	vocab := map[string]int{"ab": 256, "abc": 257}
	for i := 0; i < 256; i++ {
		vocab[string(byteToChar[i])] = i
	}
	v, _ := json.Marshal(vocab)
	return `{"added_tokens": [{"id": 258, "content": "<|end|>", "special": true, "normalized": false}],
		"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
		"decoder": {"type": "ByteLevel"}` + extra + `,
		"model": {"type": "BPE", "vocab": ` + string(v) + `, "merges": [["a", "b"], "ab c"]}}`
}

func TestLoadHFPathsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	tj := writeFile(t, dir, "tokenizer.json", tinyByteLevel(""))
	tk, err := LoadHF(tj, "")
	if err != nil {
		t.Fatal(err)
	}
	// Both merge spellings ("a b" and ["a", "b"]) load.
	if got := tk.Encode("abc ab"); len(got) != 3 || got[0] != 257 || got[2] != 256 {
		t.Errorf("merges: got %v", got)
	}
	if tk.BOS() != -1 || tk.EOS() != -1 || tk.AddBOS() || tk.VocabSize() != 259 {
		t.Errorf("no config: BOS %d EOS %d AddBOS %v VocabSize %d", tk.BOS(), tk.EOS(), tk.AddBOS(), tk.VocabSize())
	}
	cfg := writeFile(t, dir, "tokenizer_config.json", `{"add_bos_token": true, "bos_token": {"content": "<|end|>"}, "eos_token": "<|end|>"}`)
	tk, err = LoadHF(tj, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 258 || tk.EOS() != 258 || !tk.AddBOS() {
		t.Errorf("config: BOS %d EOS %d AddBOS %v", tk.BOS(), tk.EOS(), tk.AddBOS())
	}
	writeFile(t, dir, "tokenizer_config.json", `{"bos_token": "<nope>"}`)
	if _, err := LoadHF(tj, cfg); err == nil || !strings.Contains(err.Error(), "<nope>") {
		t.Errorf("unknown bos_token: %v", err)
	}
}

func TestLoadHFDirModelIDs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tokenizer.json", tinyByteLevel(""))
	writeFile(t, dir, "config.json", `{"bos_token_id": 256, "eos_token_id": 257}`)
	writeFile(t, dir, "generation_config.json", `{"eos_token_id": [258, 257]}`)
	tk, err := LoadHFDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 256 || tk.EOS() != 258 {
		t.Errorf("BOS %d EOS %d, want 256 (config.json) and 258 (generation_config.json)", tk.BOS(), tk.EOS())
	}
	writeFile(t, dir, "config.json", `{"bos_token_id": 9999}`)
	if _, err := LoadHFDir(dir); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("out-of-range bos id: %v", err)
	}
}

func TestStoriesLoadHFWithoutConfig(t *testing.T) {
	tk, err := LoadHF(testmodels.Path(t, "stories260K-hf/tokenizer.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || !tk.AddBOS() {
		t.Errorf("BOS %d EOS %d AddBOS %v, want 1 2 true from the template", tk.BOS(), tk.EOS(), tk.AddBOS())
	}
}

func TestLoadHFErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ json, want string }{
		{`{`, "tokenizer.json"},
		{`{"model": {"type": "Unigram", "vocab": []}}`, `unsupported model type "Unigram"`},
		{tinyByteLevel(`, "normalizer": {"type": "BertNormalizer"}`), `unsupported normalizer type "BertNormalizer"`},
		{strings.Replace(tinyByteLevel(""), `"type": "ByteLevel", "add_prefix_space"`, `"type": "Whitespace", "add_prefix_space"`, 1), `unsupported pre_tokenizer type "Whitespace"`},
		{strings.Replace(tinyByteLevel(""), `"decoder": {"type": "ByteLevel"}`, `"decoder": {"type": "WordPiece"}`, 1), `unsupported decoder type "WordPiece"`},
		{strings.Replace(tinyByteLevel(""), `"ab c"`, `"ab zz"`, 1), `"zz" is not in model.vocab`},
		{strings.Replace(tinyByteLevel(""), `"ab c"`, `"ab c d"`, 1), `not two tokens`},
		{strings.Replace(tinyByteLevel(""), `"abc":257`, `"abc":-4`, 1), `invalid id -4`},
		{tinyByteLevel(`, "normalizer": {"type": "Replace", "pattern": {"Regex": "(("}, "content": ""}`), `regex "(("`},
		{strings.Replace(tinyByteLevel(""), `"model": {"type": "BPE",`, `"model": {"type": "BPE", "dropout": 0.1,`, 1), "dropout"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, "tokenizer.json", c.json)
		_, err := LoadHF(p, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
	if _, err := LoadHF(filepath.Join(dir, "missing.json"), ""); err == nil {
		t.Error("missing file loaded")
	}
}

func llama2cFile(tokens []string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 16)
	for i, s := range tokens {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(-float32(i)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestLoadLlama2CErrors(t *testing.T) {
	dir := t.TempDir()
	var toks []string
	toks = append(toks, "<unk>", "\n<s>\n", "\n</s>\n")
	for i := 0; i < 256; i++ {
		toks = append(toks, "<0x"+strings.ToUpper(string("0123456789abcdef"[i>>4]))+strings.ToUpper(string("0123456789abcdef"[i&15]))+">")
	}
	toks = append(toks, " ", "a", "b", " a", "ab")
	good := llama2cFile(toks)
	p := filepath.Join(dir, "tok.bin")
	os.WriteFile(p, good, 0o644)
	tk, err := LoadLlama2C(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() != len(toks) {
		t.Errorf("vocab %d", tk.VocabSize())
	}
	if got := tk.Decode(tk.Encode("ab a\n"), true); got != "ab a\n" {
		t.Errorf("round trip %q", got)
	}
	for _, c := range []struct {
		data  []byte
		vocab int
		want  string
	}{
		{good[:2], 0, "too short"},
		{good[:len(good)-1], 0, "length"},
		{good, len(toks) + 1, "truncated at token"},
		{good, len(toks) - 1, "bytes left"},
		{llama2cFile(toks[:10]), 0, "need at least"},
	} {
		os.WriteFile(p, c.data, 0o644)
		if _, err := LoadLlama2C(p, c.vocab); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("want error with %q and the path, got %v", c.want, err)
		}
	}
}

// Encode is safe for concurrent use (the word cache is shared).
func TestConcurrentEncode(t *testing.T) {
	tk := loadGPT2(t)
	want := tk.Encode(longStory())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := tk.Encode(longStory()); len(got) != len(want) {
				t.Errorf("concurrent encode gave %d tokens, want %d", len(got), len(want))
			}
		}()
	}
	wg.Wait()
}

func TestUTF8Lossy(t *testing.T) {
	for in, want := range map[string]string{
		"abc":              "abc",
		"a\xffb":           "a\uFFFDb",
		"\xe2\x82":         "\uFFFD",             // truncated 3-byte sequence: one replacement
		"\xe2\x82a":        "\uFFFDa",            // same, followed by ASCII
		"\xf0\x9f\x98":     "\uFFFD",             // truncated 4-byte
		"\xed\xa0\x80":     "\uFFFD\uFFFD\uFFFD", // surrogate: each byte
		"\xc0\xaf":         "\uFFFD\uFFFD",       // overlong
		"\xf0\x9f\x98\x80": "😀",
	} {
		if got := utf8Lossy([]byte(in)); got != want {
			t.Errorf("utf8Lossy(%q) = %q, want %q", in, got, want)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeString(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
