package train

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// TrainBPE learns a SentencePiece-style BPE vocabulary (▁ marks a space,
// byte fallback for anything unseen) from texts and returns it as a Hugging
// Face tokenizer.json, so the built-in model loads through the same code path
// as any Hugging Face Llama checkpoint. Ids 0–2 are <unk>, <s>, </s>; 3–258 the
// byte-fallback tokens <0x00>…<0xFF>; then the characters seen; then merges in
// rank order until vocabSize.
func TrainBPE(texts []string, vocabSize int) ([]byte, error) {
	const base = 3 + 256
	// Words: the normalised text split before each ▁, with their counts.
	wordCount := map[string]int{}
	charCount := map[string]int{}
	for _, t := range texts {
		norm := "▁" + strings.ReplaceAll(t, " ", "▁")
		for _, w := range strings.SplitAfter(strings.ReplaceAll(norm, "▁", "\x00▁"), "\x00") {
			w = strings.TrimSuffix(w, "\x00")
			if w == "" {
				continue
			}
			wordCount[w]++
			for _, r := range w {
				charCount[string(r)]++
			}
		}
	}
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := 0; b < 256; b++ {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 3 + b
	}
	chars := make([]string, 0, len(charCount))
	for c := range charCount {
		chars = append(chars, c)
	}
	sort.Slice(chars, func(i, j int) bool {
		if charCount[chars[i]] != charCount[chars[j]] {
			return charCount[chars[i]] > charCount[chars[j]]
		}
		return chars[i] < chars[j]
	})
	for _, c := range chars {
		if len(vocab) >= vocabSize {
			break
		}
		vocab[c] = len(vocab)
	}
	if len(vocab) < base+1 {
		return nil, fmt.Errorf("train BPE: vocab size %d leaves no room beyond the %d special and byte tokens", vocabSize, base)
	}

	// Each word as a list of symbols; merges rewrite these lists in place.
	type word struct {
		syms  []string
		count int
	}
	words := make([]*word, 0, len(wordCount))
	for w, n := range wordCount {
		var syms []string
		for _, r := range w {
			syms = append(syms, string(r))
		}
		words = append(words, &word{syms, n})
	}
	sort.Slice(words, func(i, j int) bool { return strings.Join(words[i].syms, "") < strings.Join(words[j].syms, "") })

	var merges []string
	for len(vocab) < vocabSize {
		pairs := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 0
		for p, n := range pairs {
			if _, known := vocab[p[0]+p[1]]; known {
				continue
			}
			if n > bestN || (n == bestN && p[0]+" "+p[1] < best[0]+" "+best[1]) {
				best, bestN = p, n
			}
		}
		if bestN < 2 { // nothing left worth merging
			break
		}
		merged := best[0] + best[1]
		vocab[merged] = len(vocab)
		merges = append(merges, best[0]+" "+best[1])
		for _, w := range words {
			out := w.syms[:0]
			for i := 0; i < len(w.syms); i++ {
				if i+1 < len(w.syms) && w.syms[i] == best[0] && w.syms[i+1] == best[1] {
					out = append(out, merged)
					i++
					continue
				}
				out = append(out, w.syms[i])
			}
			w.syms = out
		}
	}
	return tokenizerJSON(vocab, merges)
}

// tokenizerJSON writes the Hugging Face layout used by Llama-2-style tokenizers.
func tokenizerJSON(vocab map[string]int, merges []string) ([]byte, error) {
	special := func(id int, s string) map[string]any {
		return map[string]any{"id": id, "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}
	}
	// Vocab in id order for a stable, readable file.
	type kv struct {
		k string
		v int
	}
	ordered := make([]kv, 0, len(vocab))
	for k, v := range vocab {
		ordered = append(ordered, kv{k, v})
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].v < ordered[j].v })
	var vb strings.Builder
	vb.WriteString("{")
	for i, e := range ordered {
		if i > 0 {
			vb.WriteString(",")
		}
		k, _ := json.Marshal(e.k)
		fmt.Fprintf(&vb, "%s:%d", k, e.v)
	}
	vb.WriteString("}")
	doc := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": []any{special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer":  nil,
		"post_processor": nil,
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>",
			"continuing_subword_prefix": nil, "end_of_word_suffix": nil, "fuse_unk": true,
			"byte_fallback": true, "vocab": json.RawMessage(vb.String()), "merges": merges},
	}
	return json.MarshalIndent(doc, "", " ")
}
