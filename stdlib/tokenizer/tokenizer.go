// Package tokenizer turns text into token ids and back: Hugging Face
// tokenizer.json BPE (SentencePiece-style and byte-level) and llama2.c's
// tokenizer.bin.
//
// Both follow their reference implementations id for id: the Hugging Face
// tokenizers library (checked against it in the tests) and llama2.c's run.c.
// Tokenizers are safe for concurrent use.
package tokenizer

// Tokenizer is what models and evaluation need from any tokenizer.
type Tokenizer interface {
	// Encode tokenizes text without adding BOS/EOS (special-token strings in
	// the text, such as "<|begin_of_text|>", map to their ids).
	Encode(text string) []int
	// Decode turns ids back into text (special tokens skipped when skipSpecial).
	// Ids outside the vocabulary are ignored.
	Decode(ids []int, skipSpecial bool) string
	// Piece is the vocabulary string of one id (for display), "" outside the vocabulary.
	Piece(id int) string
	// VocabSize is one more than the largest id.
	VocabSize() int
	// BOS and EOS are the ids of the beginning/end-of-sequence tokens, -1 if none.
	BOS() int
	EOS() int
	// AddBOS says whether sequences start with BOS (tokenizer_config add_bos_token, or the family default).
	AddBOS() bool
}
