package tokenizer

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"esa/internal/testmodels"
)

// storyTexts exercise both SentencePiece-style encoders: ASCII prose, text
// outside the 512-token vocabulary (byte fallback), control characters and
// every kind of spacing. Special-token strings such as "<s>" are left out:
// tokenizer.json maps them to their ids while run.c reads them as text (that
// case is checked against Hugging Face's library in hfref_test.go).
var storyTexts = []string{
	"",
	" ",
	"  ",
	"a",
	"Once upon a time, there was a little girl named Lily.",
	"Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
	" leading space",
	"trailing space ",
	"  two leading and two trailing  ",
	"repeated     spaces   between words",
	"line one\nline two\n\nline four\n",
	"\n",
	"\tTabbed\tcolumns\t",
	"Windows\r\nline\r\nendings",
	"Café, naïve, façade, jalapeño, Ångström, œuvre.",
	"Привет, мир! Как дела?",
	"日本語のテキストと中文字符。",
	"emoji: 😀🎉👍🏽 and a family 👨‍👩‍👧‍👦!",
	"Math: ∑ x² ≤ ∞, π ≈ 3.14159; a→b ⇒ c.",
	"quotes “curly” ‘single’ — dashes – and … ellipsis",
	"Numbers 0123456789 and 3.14 and 1,000,000.",
	"<0x41> looks like a byte token",
	"mixed\u00a0nbsp\u2003em-space\u3000ideographic",
	"Tom's dog didn't want to go. \"Why?\" asked Tom. 'Because!'",
	"ALL CAPS SHOUTING AND lowercase whispering",
	"x",
	"é",
	"🙂",
	"a\u0301 combining accent",
	"\x00\x01\x1f control bytes \x7f",
}

func longStory() string {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		b.WriteString("One day, Lily saw a big red ball in the park. She wanted to play with it, but it was too high! ")
		b.WriteString("Her mom said, \"Be careful, Lily.\" 日本 😀\n")
	}
	return b.String()
}

func loadStories(t *testing.T) (hf, l2c Tokenizer) {
	t.Helper()
	var err error
	hf, err = LoadHFDir(filepath.Dir(testmodels.Path(t, "stories260K-hf/tokenizer.json")))
	if err != nil {
		t.Fatal(err)
	}
	l2c, err = LoadLlama2C(testmodels.Path(t, "stories260K/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	return hf, l2c
}

// The HF tokenizer.json and llama2.c's tok512.bin are the same tokenizer in
// two formats with two different merge algorithms (rank-ordered merges vs
// run.c's best-score greedy): they must agree id for id.
func TestStoriesHFMatchesLlama2C(t *testing.T) {
	hf, l2c := loadStories(t)
	texts := append(append([]string{}, storyTexts...), longStory())
	for _, s := range texts {
		a, b := hf.Encode(s), l2c.Encode(s)
		if len(a) == 0 && len(b) == 0 {
			continue
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q:\n  tokenizer.json %v\n  tok512.bin     %v", s, a, b)
		}
	}
}

func TestStoriesSpecials(t *testing.T) {
	hf, l2c := loadStories(t)
	for _, tk := range []Tokenizer{hf, l2c} {
		if tk.BOS() != 1 || tk.EOS() != 2 || !tk.AddBOS() || tk.VocabSize() != 512 {
			t.Errorf("%T: BOS %d EOS %d AddBOS %v VocabSize %d, want 1 2 true 512", tk, tk.BOS(), tk.EOS(), tk.AddBOS(), tk.VocabSize())
		}
	}
	// The known greedy output starts with these pieces.
	ids := hf.Encode("Once upon a time")
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, hf.Piece(id))
	}
	if got := strings.Join(pieces, "|"); got != "▁Once|▁upon|▁a|▁time" {
		t.Errorf("pieces %q", got)
	}
	if got := l2c.Piece(ids[0]); got != " Once" {
		t.Errorf("llama2.c piece %q", got)
	}
}

func TestStoriesRoundTrip(t *testing.T) {
	hf, l2c := loadStories(t)
	texts := append(append([]string{}, storyTexts...), longStory())
	for _, s := range texts {
		for _, tk := range []Tokenizer{hf, l2c} {
			if got := tk.Decode(tk.Encode(s), true); got != s {
				t.Errorf("%T round trip of %q gave %q", tk, s, got)
			}
		}
		// With BOS in front, skipping specials gives the same text.
		ids := append([]int{1}, hf.Encode(s)...)
		if got := l2c.Decode(ids, true); got != s {
			t.Errorf("llama2.c decode after BOS of %q gave %q", s, got)
		}
		if got := hf.Decode(ids, true); got != s {
			t.Errorf("HF decode after BOS of %q gave %q", s, got)
		}
	}
}
