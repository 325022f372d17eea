package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is the BPE model of tokenizer.json ("model": {"type": "BPE"}),
// following the tokenizers crate (models/bpe): a word is split into
// characters (byte-fallback <0xNN> tokens or <unk> for characters outside the
// vocabulary), then merged pair by pair, always the pair with the lowest merge
// rank first and the leftmost among equals.
type bpeModel struct {
	vocab        map[string]int32
	merges       map[uint64]mergeTo
	unkID        int32 // -1 when the model has no unk_token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	contPrefix   string // continuing_subword_prefix
	endSuffix    string // end_of_word_suffix
	byteIDs      [256]int32

	mu    sync.Mutex
	cache map[string][]int32
}

type mergeTo struct {
	rank int32
	id   int32
}

// Words longer than this are not cached (the SentencePiece family feeds the
// whole text as one word), and at most cacheCap words are kept — the limits
// the tokenizers crate uses.
const (
	cacheMaxWordLen = 256
	cacheCap        = 10000
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the model and checks that every merge names vocabulary
// tokens, as the tokenizers crate does when it loads the file.
func newBPE(vocab map[string]int32, merges [][2]string, unk *string, fuseUnk, byteFallback, ignoreMerges bool, contPrefix, endSuffix string) (*bpeModel, error) {
	m := &bpeModel{
		vocab:        vocab,
		merges:       make(map[uint64]mergeTo, len(merges)),
		unkID:        -1,
		fuseUnk:      fuseUnk,
		byteFallback: byteFallback,
		ignoreMerges: ignoreMerges,
		contPrefix:   contPrefix,
		endSuffix:    endSuffix,
		cache:        make(map[string][]int32),
	}
	if unk != nil {
		id, ok := vocab[*unk]
		if !ok {
			return nil, fmt.Errorf("model.unk_token %q is not in model.vocab", *unk)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	for rank, p := range merges {
		a, ok := vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q is not in model.vocab", rank, p[0], p[1], p[0])
		}
		b, ok := vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): %q is not in model.vocab", rank, p[0], p[1], p[1])
		}
		right := p[1]
		if contPrefix != "" && strings.HasPrefix(right, contPrefix) {
			right = right[len(contPrefix):]
		}
		merged := p[0] + right
		id, ok := vocab[merged]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): the merged token %q is not in model.vocab", rank, p[0], p[1], merged)
		}
		// A later duplicate overrides an earlier one, as in the crate's HashMap.
		m.merges[pairKey(a, b)] = mergeTo{rank: int32(rank), id: id}
	}
	return m, nil
}

// tokenize appends the ids of one pre-tokenized word to out.
func (m *bpeModel) tokenize(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, int(id))
		}
	}
	cacheable := len(word) < cacheMaxWordLen
	if cacheable {
		m.mu.Lock()
		ids, ok := m.cache[word]
		m.mu.Unlock()
		if ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return out
		}
	}
	ids := m.mergeWord(word)
	if cacheable {
		m.mu.Lock()
		if len(m.cache) < cacheCap {
			m.cache[word] = ids
		}
		m.mu.Unlock()
	}
	for _, id := range ids {
		out = append(out, int(id))
	}
	return out
}

// symbol is one token of a word being merged, in a doubly linked list over
// the initial positions; size 0 marks a symbol absorbed by its left neighbour.
type symbol struct {
	id         int32
	prev, next int32
	size       int32
}

// mergeWord splits the word into initial symbols then applies merges.
func (m *bpeModel) mergeWord(w string) []int32 {
	syms := make([]symbol, 0, len(w))
	add := func(id int32, size int) {
		n := int32(len(syms))
		syms = append(syms, symbol{id: id, prev: n - 1, next: n + 1, size: int32(size)})
	}
	unkID, unkLen := int32(-1), 0
	flushUnk := func() {
		if unkLen > 0 {
			add(unkID, unkLen)
			unkLen = 0
		}
	}
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+size]
		first, last := i == 0, i+size == len(w)
		if (!first && m.contPrefix != "") || (last && m.endSuffix != "") {
			if !first {
				s = m.contPrefix + s
			}
			if last {
				s += m.endSuffix
			}
		}
		i += size
		if id, ok := m.vocab[s]; ok {
			flushUnk()
			add(id, size)
			continue
		}
		if m.byteFallback && m.allBytes(s) {
			flushUnk()
			for j := 0; j < len(s); j++ {
				add(m.byteIDs[s[j]], 1)
			}
			continue
		}
		if m.unkID < 0 {
			// No <unk>, no byte token: the crate fails the whole encode. Encode
			// cannot fail, so the character is dropped (documented on Encode);
			// byte-level and byte_fallback vocabularies never get here.
			continue
		}
		if unkLen > 0 && !m.fuseUnk {
			flushUnk()
		}
		unkID = m.unkID
		unkLen += size
	}
	flushUnk()
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1
	m.mergeAll(syms)
	ids := make([]int32, 0, len(syms))
	for i := int32(0); i >= 0 && int(i) < len(syms); i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids
}

func (m *bpeModel) allBytes(s string) bool {
	for j := 0; j < len(s); j++ {
		if m.byteIDs[s[j]] < 0 {
			return false
		}
	}
	return true
}

// queued is a candidate merge of the symbol at pos with its right neighbour.
type queued struct {
	rank int32
	pos  int32
	id   int32
}

func (a queued) less(b queued) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// mergeAll is the crate's Word::merge_all: a min-heap of candidate merges
// ordered by (rank, position); stale entries (whose pair no longer exists)
// are skipped when popped. O(n log n) in the number of symbols.
func (m *bpeModel) mergeAll(syms []symbol) {
	h := queue[queued]{items: make([]queued, 0, len(syms)), less: queued.less}
	push, pop := h.push, h.pop
	for i := 0; i+1 < len(syms); i++ {
		if mt, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			push(queued{rank: mt.rank, pos: int32(i), id: mt.id})
		}
	}
	for h.len() > 0 {
		top := pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		if mt, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mt.id != top.id {
			continue // expired: one side was merged since this entry was queued
		}
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mt, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				push(queued{rank: mt.rank, pos: cur.prev, id: mt.id})
			}
		}
		if cur.next >= 0 {
			if mt, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				push(queued{rank: mt.rank, pos: top.pos, id: mt.id})
			}
		}
	}
}
