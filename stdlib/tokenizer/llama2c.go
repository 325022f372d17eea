package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// llama2cTokenizer is llama2.c's tokenizer.bin with run.c's algorithms.
type llama2cTokenizer struct {
	vocab  []string
	scores []float32
	ids    map[string]int32 // first id of each piece
	space  int32            // id of " ", the dummy prefix (-1 if absent)
	// pairs maps two adjacent ids to the id of their concatenation, for
	// every way of writing a piece as two pieces: run.c's sprintf + lookup,
	// computed once.
	pairs map[uint64]int32
}

// LoadLlama2C reads llama2.c's tokenizer.bin: int32 max_token_length, then
// for each of vocabSize tokens a float32 score, an int32 byte length and the
// bytes (little-endian). vocabSize <= 0 reads tokens until the end of file.
// BOS is 1, EOS is 2, and sequences start with BOS, as in run.c.
func LoadLlama2C(path string, vocabSize int) (Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseLlama2C(data, path, vocabSize)
}

// parseLlama2C reads tokenizer.bin contents; path names the file in errors.
func parseLlama2C(data []byte, path string, vocabSize int) (*llama2cTokenizer, error) {
	fail := func(format string, a ...any) (*llama2cTokenizer, error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{path}, a...)...)
	}
	if len(data) < 4 {
		return fail("too short for a llama2.c tokenizer (%d bytes)", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 {
		return fail("max_token_length %d is not positive", maxLen)
	}
	t := &llama2cTokenizer{ids: map[string]int32{}, space: -1}
	off := 4
	for i := 0; vocabSize <= 0 || i < vocabSize; i++ {
		if vocabSize <= 0 && off == len(data) {
			break
		}
		if len(data)-off < 8 {
			return fail("truncated at token %d (offset %d): need 8 header bytes, %d left", i, off, len(data)-off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if n < 0 || int(n) > len(data)-off {
			return fail("token %d has length %d but %d bytes remain", i, n, len(data)-off)
		}
		s := string(data[off : off+int(n)])
		off += int(n)
		t.vocab = append(t.vocab, s)
		t.scores = append(t.scores, score)
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = int32(i)
		}
	}
	if vocabSize > 0 && off != len(data) {
		return fail("%d bytes left after %d tokens: vocabulary size does not match the file", len(data)-off, vocabSize)
	}
	if len(t.vocab) < 3+256 {
		return fail("%d tokens: need at least <unk>, BOS, EOS and 256 byte tokens", len(t.vocab))
	}
	if id, ok := t.ids[" "]; ok {
		t.space = id
	}
	t.buildPairs()
	return t, nil
}

func (t *llama2cTokenizer) buildPairs() {
	// Encode only ever holds the first id of a string or a byte token
	// (byte + 3), so only those can start or end a pair; other duplicates of a
	// string cannot occur and would blow the table up quadratically.
	all := make(map[string][]int32, len(t.vocab))
	for s, id := range t.ids {
		all[s] = append(all[s], id)
	}
	for b := 3; b < 3+256; b++ {
		if s := t.vocab[b]; t.ids[s] != int32(b) {
			all[s] = append(all[s], int32(b))
		}
	}
	t.pairs = make(map[uint64]int32)
	for s, merged := range t.ids {
		for k := 1; k < len(s); k++ {
			for _, l := range all[s[:k]] {
				for _, r := range all[s[k:]] {
					t.pairs[pairKey(l, r)] = merged
				}
			}
		}
	}
}

func (t *llama2cTokenizer) VocabSize() int { return len(t.vocab) }
func (t *llama2cTokenizer) BOS() int       { return 1 }
func (t *llama2cTokenizer) EOS() int       { return 2 }
func (t *llama2cTokenizer) AddBOS() bool   { return true }

func (t *llama2cTokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.vocab) {
		return ""
	}
	return t.vocab[id]
}

// Encode is run.c's encode() without BOS/EOS: a dummy-prefix " " token for
// non-empty text, one token per UTF-8 character (at most 4 bytes; bytes of
// characters outside the vocabulary become byte tokens id = byte + 3), then
// repeatedly the adjacent pair whose concatenation is the vocabulary piece
// with the highest score is merged, the leftmost on ties. run.c rescans all
// pairs per merge (quadratic); a heap with the same ordering gives the same
// result in O(n log n).
func (t *llama2cTokenizer) Encode(text string) []int {
	if text == "" {
		return []int{}
	}
	syms := make([]symbol, 0, len(text)+1)
	add := func(id int32) {
		n := int32(len(syms))
		syms = append(syms, symbol{id: id, prev: n - 1, next: n + 1, size: 1})
	}
	// run.c would push str_lookup's -1 when " " is missing; a vocabulary
	// without " " cannot come from llama2.c's exporter, so the prefix is
	// simply left out then.
	if t.space >= 0 {
		add(t.space)
	}
	// The per-character loop of run.c, byte by byte.
	var buf []byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c&0xC0 != 0x80 {
			buf = buf[:0]
		}
		buf = append(buf, c)
		if i+1 < len(text) && text[i+1]&0xC0 == 0x80 && len(buf) < 4 {
			continue
		}
		if id, ok := t.ids[string(buf)]; ok {
			add(id)
		} else {
			for _, b := range buf {
				add(int32(b) + 3)
			}
		}
		buf = buf[:0]
	}
	syms[len(syms)-1].next = -1
	t.merge(syms)
	out := make([]int, 0, len(syms))
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, int(syms[i].id))
	}
	return out
}

type scored struct {
	score       float32
	pos         int32
	left, right int32 // ids the pair had when queued
	id          int32
}

func (a scored) better(b scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.pos < b.pos
}

// merge applies run.c's greedy merges. A pair only counts when its merged
// score beats run.c's starting best of -1e10.
func (t *llama2cTokenizer) merge(syms []symbol) {
	h := queue[scored]{less: scored.better}
	push := func(pos int32) {
		nx := syms[pos].next
		if nx < 0 {
			return
		}
		l, r := syms[pos].id, syms[nx].id
		id, ok := t.pairs[pairKey(l, r)]
		if !ok || !(t.scores[id] > -1e10) {
			return
		}
		h.push(scored{score: t.scores[id], pos: pos, left: l, right: r, id: id})
	}
	for i := int32(0); int(i)+1 < len(syms); i++ {
		push(i)
	}
	for h.len() > 0 {
		q := h.pop()
		cur := &syms[q.pos]
		if cur.size == 0 || cur.next < 0 || cur.id != q.left || syms[cur.next].id != q.right {
			continue // stale: a neighbour changed since this pair was queued
		}
		right := syms[cur.next]
		syms[cur.next].size = 0
		cur.id = q.id
		cur.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = q.pos
		}
		if cur.prev >= 0 {
			push(cur.prev)
		}
		push(q.pos)
	}
}

// Decode follows run.c's decode(): a piece's leading space is dropped after
// BOS (and, as SentencePiece does, at the start of the output, so that
// Decode(Encode(s)) == s); <0xNN> pieces are raw bytes, so the result can hold
// invalid UTF-8 when ids split a character. Special tokens (<unk>, BOS, EOS)
// are skipped when skipSpecial, else written as "<unk>", "<s>", "</s>".
func (t *llama2cTokenizer) Decode(ids []int, skipSpecial bool) string {
	var b strings.Builder
	prev := -1
	for _, id := range ids {
		if id < 0 || id >= len(t.vocab) {
			continue
		}
		if id <= 2 {
			if !skipSpecial {
				b.WriteString(strings.TrimSpace(t.vocab[id]))
			}
			prev = id
			continue
		}
		piece := t.vocab[id]
		if (prev == 1 || prev == -1) && strings.HasPrefix(piece, " ") {
			piece = piece[1:]
		}
		if v, ok := parseByteToken(piece); ok {
			b.WriteByte(v)
		} else {
			b.WriteString(piece)
		}
		prev = id
	}
	return b.String()
}
