package train

import (
	"os"
	"path/filepath"
	"testing"

	"esa/stdlib/corpus"
	"esa/stdlib/tokenizer"
)

// The trained vocabulary must load through the Hugging Face tokenizer path,
// compress the corpus (merges were learned) and round-trip any text, including
// characters it never saw (byte fallback).
func TestTrainBPELoadsAndRoundTrips(t *testing.T) {
	stories := corpus.Stories(3, 500)
	js, err := TrainBPE(stories, 400)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadHFDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 400 || tok.BOS() != 1 || tok.EOS() != 2 {
		t.Fatalf("vocab %d bos %d eos %d", tok.VocabSize(), tok.BOS(), tok.EOS())
	}
	var chars, toks int
	for _, s := range stories[:50] {
		ids := tok.Encode(s)
		chars += len(s)
		toks += len(ids)
		if got := tok.Decode(ids, true); got != s {
			t.Fatalf("round trip:\n got %q\nwant %q", got, s)
		}
	}
	if float64(chars)/float64(toks) < 1.8 {
		t.Fatalf("only %.2f characters per token: merges did not compress the corpus", float64(chars)/float64(toks))
	}
	for _, s := range []string{"Zoë ate 🍕 twice!", "  two  spaces ", "tab\tand\nnewline"} {
		if got := tok.Decode(tok.Encode(s), true); got != s {
			t.Fatalf("round trip of unseen text:\n got %q\nwant %q", got, s)
		}
	}
}
