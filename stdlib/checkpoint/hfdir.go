package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

const (
	configFile    = "config.json"
	singleFile    = "model.safetensors"
	indexFile     = "model.safetensors.index.json"
	genConfigFile = "generation_config.json"
)

// openHFDir loads a Hugging Face model folder.
func openHFDir(dir string, opts Options) (_ *Checkpoint, err error) {
	cfgPath := filepath.Join(dir, configFile)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model folder %s has no readable %s: %v", dir, configFile, err)
	}
	cfg, err := model.ParseHFConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cfgPath, err)
	}
	if err := applyGenerationConfig(dir, &cfg); err != nil {
		return nil, err
	}
	c := &Checkpoint{Config: cfg, Path: dir, Format: KindHFDir}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	tensors, fileOf, err := c.openTensors(dir)
	if err != nil {
		return nil, err
	}
	tensors, err = c.normalize(tensors, fileOf)
	if err != nil {
		return nil, err
	}
	c.Tensors, err = order(cfg, tensors, fileOf, dir)
	if err != nil {
		return nil, err
	}
	if err := c.loadTokenizer(dir, opts.Tokenizer); err != nil {
		return nil, err
	}
	return c, nil
}

// applyGenerationConfig fills BOS/EOS from generation_config.json when
// config.json does not give them.
func applyGenerationConfig(dir string, cfg *model.Config) error {
	p := filepath.Join(dir, genConfigFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil // optional
	}
	var g struct {
		BOS json.RawMessage `json:"bos_token_id"`
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return fmt.Errorf("%s: not a JSON object: %v", p, err)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *int
	}{{"bos_token_id", g.BOS, &cfg.BOS}, {"eos_token_id", g.EOS, &cfg.EOS}} {
		if *f.dst >= 0 || len(f.raw) == 0 {
			continue
		}
		id, err := firstID(f.raw)
		if err != nil {
			return fmt.Errorf("%s: %s %v", p, f.name, err)
		}
		if id >= cfg.Vocab {
			return fmt.Errorf("%s: %s = %d is not below vocab_size %d", p, f.name, id, cfg.Vocab)
		}
		*f.dst = id
	}
	return nil
}

// firstID reads an id given as an int, a list (first wins) or null (-1).
func firstID(raw json.RawMessage) (int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return -1, err
	}
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return -1, nil
		}
		v = l[0]
	}
	switch x := v.(type) {
	case nil:
		return -1, nil
	case float64:
		if x >= 0 && x == float64(int(x)) && x < 1<<31 {
			return int(x), nil
		}
	}
	return -1, fmt.Errorf("must be a token id or a list of them, got %s", raw)
}

// openTensors opens model.safetensors or the shards of
// model.safetensors.index.json and checks the index against the shards.
func (c *Checkpoint) openTensors(dir string) ([]*tensor.Tensor, map[string]string, error) {
	fileOf := map[string]string{}
	var all []*tensor.Tensor
	add := func(path string) (*safetensors.File, error) {
		f, err := safetensors.Open(path)
		if err != nil {
			return nil, err
		}
		c.sts = append(c.sts, f)
		c.Files = append(c.Files, path)
		for _, t := range f.Tensors {
			if prev, dup := fileOf[t.Name]; dup {
				return nil, fmt.Errorf("tensor %s appears in both %s and %s", t.Name, prev, path)
			}
			fileOf[t.Name] = path
			all = append(all, t)
		}
		return f, nil
	}
	idxPath := filepath.Join(dir, indexFile)
	if b, err := os.ReadFile(idxPath); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, nil, fmt.Errorf("%s: not a valid index (want {\"weight_map\": {tensor: file}}): %v", idxPath, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, nil, fmt.Errorf("%s: weight_map is empty", idxPath)
		}
		shards := map[string]bool{}
		for name, shard := range idx.WeightMap {
			if shard == "" || filepath.Base(shard) != shard {
				return nil, nil, fmt.Errorf("%s: tensor %s maps to %q, which is not a file name in this folder", idxPath, name, shard)
			}
			shards[shard] = true
		}
		names := make([]string, 0, len(shards))
		for s := range shards {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			p := filepath.Join(dir, s)
			if _, err := os.Stat(p); err != nil {
				return nil, nil, fmt.Errorf("%s: shard %s is missing (%v)", idxPath, p, err)
			}
			if _, err := add(p); err != nil {
				return nil, nil, err
			}
		}
		for name, shard := range idx.WeightMap {
			got, ok := fileOf[name]
			if !ok {
				return nil, nil, fmt.Errorf("%s: tensor %s is not in its shard %s", idxPath, name, filepath.Join(dir, shard))
			}
			if filepath.Base(got) != shard {
				return nil, nil, fmt.Errorf("%s: tensor %s is listed in %s but stored in %s", idxPath, name, shard, got)
			}
		}
		for name, f := range fileOf {
			if _, ok := idx.WeightMap[name]; !ok {
				return nil, nil, fmt.Errorf("%s: shard %s holds tensor %s that the index does not list", idxPath, f, name)
			}
		}
		return all, fileOf, nil
	}
	single := filepath.Join(dir, singleFile)
	if _, err := os.Stat(single); err != nil {
		msg := fmt.Sprintf("model folder %s has neither %s nor %s", dir, singleFile, indexFile)
		for _, pt := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json"} {
			if _, err := os.Stat(filepath.Join(dir, pt)); err == nil {
				msg += fmt.Sprintf("; it has %s (a PyTorch pickle, not supported: convert it to safetensors)", pt)
			}
		}
		return nil, nil, fmt.Errorf("%s", msg)
	}
	if _, err := add(single); err != nil {
		return nil, nil, err
	}
	return all, fileOf, nil
}

// bufferSuffixes are non-parameter tensors some checkpoints store (causal
// masks, rotary frequency tables); they are recomputed, never loaded.
var bufferSuffixes = []string{".attn.bias", ".attn.masked_bias", ".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"}

// normalize maps names to the ones model.ParamSpecs uses: it drops buffers,
// drops a stored head that the config ties to the embeddings (what
// transformers does when tying), and adds GPT-2's "transformer." prefix,
// which checkpoints saved from GPT2Model lack.
func (c *Checkpoint) normalize(ts []*tensor.Tensor, fileOf map[string]string) ([]*tensor.Tensor, error) {
	out := ts[:0:0]
	var buffers []string
	var heads []*tensor.Tensor
	for _, t := range ts {
		if isBuffer(t.Name) {
			buffers = append(buffers, t.Name)
			continue
		}
		if c.Config.TiedEmbeds && (t.Name == "lm_head.weight" || t.Name == "embed_out.weight") {
			heads = append(heads, t)
			continue
		}
		if c.Config.Architecture == "gpt2" && !strings.HasPrefix(t.Name, "transformer.") && t.Name != "lm_head.weight" {
			fileOf["transformer."+t.Name] = fileOf[t.Name]
			t.Name = "transformer." + t.Name
		}
		out = append(out, t)
	}
	if len(buffers) > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("skipped %d stored buffer(s) that are recomputed, e.g. %s", len(buffers), buffers[0]))
	}
	// A tied head some checkpoints also store must be the embedding itself;
	// anything else means the config does not describe these weights.
	for _, h := range heads {
		var emb *tensor.Tensor
		for _, t := range out {
			if t.Name == "model.embed_tokens.weight" || t.Name == "gpt_neox.embed_in.weight" || t.Name == "transformer.wte.weight" {
				emb = t
			}
		}
		if emb == nil || !sameValues(h, emb) {
			return nil, fmt.Errorf("%s: tensor %s differs from the embedding, but the config sets tie_word_embeddings", fileOf[h.Name], h.Name)
		}
		c.Notes = append(c.Notes, fmt.Sprintf("dropped stored %s: it equals the embedding, which the tied head uses", h.Name))
	}
	return out, nil
}

// sameValues compares two tensors by shape and value (across dtypes).
func sameValues(a, b *tensor.Tensor) bool {
	if !equalShape(a.Shape, b.Shape) {
		return false
	}
	if a.DType == b.DType {
		return bytes.Equal(a.Data, b.Data)
	}
	for i := 0; i < a.Len(); i++ {
		if a.At(i) != b.At(i) {
			return false
		}
	}
	return true
}

func isBuffer(name string) bool {
	for _, s := range bufferSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
