// Package checkpoint opens model checkpoints — a Hugging Face folder
// (config.json + safetensors, single or sharded), a Hub id from the local
// cache, or a llama2.c .bin — into a validated Config, tensors under their
// Hugging Face names in their stored dtype, and the tokenizer beside them.
//
// Tensors alias a private copy-on-write memory map of the files where the
// platform allows, so loading costs about the file size and an in-place edit
// of a weight never reaches the file.
package checkpoint

import (
	"fmt"
	"sort"
	"strings"

	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
	"esa/stdlib/tokenizer"
)

// Options control Open.
type Options struct {
	// Tokenizer is a tokenizer file to use instead of the one found beside
	// the checkpoint (llama2.c tokenizer.bin, or a tokenizer.json).
	Tokenizer string
	// DType, when set ("fp32", "bf16", "fp16"), converts every tensor after
	// loading. Converting allocates a heap copy of each tensor, so memory is
	// the converted size rather than the mapped file; the mapping is released
	// once no tensor aliases it.
	DType string
}

// Checkpoint is an opened model checkpoint.
type Checkpoint struct {
	Config model.Config
	// Tensors in model order (embeddings, layers, final norm, head) under
	// their Hugging Face names; valid until Close.
	Tensors []*tensor.Tensor
	// Tokenizer is nil when none was found; TokenizerErr then says why.
	Tokenizer    tokenizer.Tokenizer
	TokenizerErr error
	// Path is the resolved checkpoint (folder or .bin file); Files are the
	// files the tensors came from.
	Path  string
	Files []string
	// Format is KindHFDir or KindLlama2C.
	Format string
	// Notes record what loading did that a user might want to know (skipped
	// buffers, a dropped tied head, a conversion).
	Notes []string

	maps []*safetensors.Mapping
	sts  []*safetensors.File
}

// Open loads the checkpoint at path: a Hugging Face folder, a llama2.c .bin,
// or a Hub id (org/name) resolved from the local Hugging Face cache.
func Open(path string, opts Options) (*Checkpoint, error) {
	var conv tensor.DType
	if opts.DType != "" {
		dt, err := tensor.ParseDType(opts.DType)
		if err != nil || dt == tensor.F64 {
			return nil, fmt.Errorf("checkpoint: unknown dtype %q (valid: fp32, bf16, fp16)", opts.DType)
		}
		conv = dt
	}
	kind, resolved, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	var c *Checkpoint
	switch kind {
	case KindHFDir:
		c, err = openHFDir(resolved, opts)
	default:
		c, err = openLlama2C(resolved, opts)
	}
	if err != nil {
		return nil, err
	}
	if opts.DType != "" {
		c.convert(conv)
	}
	return c, nil
}

// Close releases the files; the tensors must not be used afterwards.
func (c *Checkpoint) Close() error {
	if c == nil {
		return nil
	}
	var first error
	for _, f := range c.sts {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	for _, m := range c.maps {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.sts, c.maps = nil, nil
	return first
}

// Tensor returns the tensor with this name, or nil.
func (c *Checkpoint) Tensor(name string) *tensor.Tensor {
	for _, t := range c.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Parameters is the number of parameter elements (a tied head counted once).
func (c *Checkpoint) Parameters() int64 {
	var n int64
	for _, t := range c.Tensors {
		n += int64(t.Len())
	}
	return n
}

// ScoredWeights is the size of the ESA scored universe: elements of every
// tensor of rank ≥ 2, tied tensors once.
func (c *Checkpoint) ScoredWeights() int64 {
	var n int64
	for _, t := range c.Tensors {
		if len(t.Shape) >= 2 {
			n += int64(t.Len())
		}
	}
	return n
}

// Bytes is the stored size of all tensors.
func (c *Checkpoint) Bytes() int64 {
	var n int64
	for _, t := range c.Tensors {
		n += t.Bytes()
	}
	return n
}

// DTypes lists the stored dtypes present ("F32", "BF16", ...), sorted.
func (c *Checkpoint) DTypes() []string {
	seen := map[string]bool{}
	for _, t := range c.Tensors {
		seen[t.DType.String()] = true
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// NeedTokenizer returns the tokenizer, or an error saying where one was
// looked for and how to give one.
func (c *Checkpoint) NeedTokenizer() (tokenizer.Tokenizer, error) {
	if c.Tokenizer != nil {
		return c.Tokenizer, nil
	}
	if c.TokenizerErr != nil {
		return nil, c.TokenizerErr
	}
	return nil, fmt.Errorf("checkpoint %s has no tokenizer", c.Path)
}

// convert stores every tensor as dt, then drops file mappings no tensor
// aliases any more.
func (c *Checkpoint) convert(dt tensor.DType) {
	n := 0
	for i, t := range c.Tensors {
		if t.DType != dt {
			c.Tensors[i] = t.Convert(dt)
			n++
		}
	}
	if n == 0 {
		return
	}
	c.Notes = append(c.Notes, fmt.Sprintf("converted %d tensors to %s", n, dt))
	if n == len(c.Tensors) {
		c.Close()
	}
}

// order sorts tensors into the model order of specs and checks each against
// its expected shape; missing and unexpected tensors are errors naming the
// tensor and the file it is (or should be) in.
func order(cfg model.Config, ts []*tensor.Tensor, fileOf map[string]string, where string) ([]*tensor.Tensor, error) {
	specs, err := model.ParamSpecs(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	byName := make(map[string]*tensor.Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	out := make([]*tensor.Tensor, 0, len(specs))
	var missing []string
	for _, s := range specs {
		t, ok := byName[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		delete(byName, s.Name)
		if !equalShape(t.Shape, s.Shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v but the config (%s) implies %v",
				fileOf[t.Name], t.Name, t.Shape, configSummary(cfg), s.Shape)
		}
		out = append(out, t)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing %d tensor(s) the config (%s) requires: %s", where, len(missing), configSummary(cfg), list(missing))
	}
	if len(byName) > 0 {
		var extra []string
		for n := range byName {
			extra = append(extra, n)
		}
		sort.Strings(extra)
		return nil, fmt.Errorf("%s: unexpected tensor %s (in %s) that a %s model with this config does not have%s",
			where, extra[0], fileOf[extra[0]], cfg.Architecture, andMore(extra))
	}
	return out, nil
}

func andMore(names []string) string {
	if len(names) <= 1 {
		return ""
	}
	return fmt.Sprintf(" (and %d more: %s)", len(names)-1, list(names[1:]))
}

func list(names []string) string {
	if len(names) > 6 {
		return strings.Join(names[:6], ", ") + fmt.Sprintf(", … (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}

func configSummary(c model.Config) string {
	return fmt.Sprintf("%s, hidden_size %d, intermediate_size %d, %d layers, %d heads, %d kv heads, vocab %d",
		c.Architecture, c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.Vocab)
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
