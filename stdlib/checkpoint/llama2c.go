package checkpoint

import (
	"encoding/binary"
	"fmt"
	"path/filepath"

	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// llama2.c checkpoints (karpathy/llama2.c run.c and export.py) store float32
// weights as (out, in) matrices — the Hugging Face convention — stacked over
// layers. Two layouts exist:
//
//   - version 0 ("legacy"): a 7×int32 header (dim, hidden_dim, n_layers,
//     n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an
//     unshared classifier), then embeddings, rms_att, wq, wk, wv, wo, rms_ffn,
//     w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag, [wcls].
//   - version 1: a 256-byte header (uint32 magic "ak42", int32 version, the 7
//     ints, a shared-classifier byte), then all norms first: rms_att, rms_ffn,
//     rms_final, embeddings, wq, wk, wv, wo, w1, w2, w3, [wcls].
//
// The q/k rows keep llama2.c's interleaved RoPE layout (pairs 2i, 2i+1), so
// the Config says RopeInterleaved; converting to Hugging Face's half-split
// layout would be a row permutation of q_proj and k_proj (see PermuteHF).
const (
	llama2cMagic     = 0x616b3432
	llama2cHeaderV0  = 7 * 4
	llama2cHeaderV1  = 256
	llama2cMaxParams = 1 << 24 // sanity bound on each header value
)

// Llama2CConfig turns a llama2.c header into a Config. shared reports a
// classifier tied to the embeddings (version 0: vocab_size > 0).
func Llama2CConfig(h [7]int32, shared bool) (model.Config, error) {
	names := [7]string{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"}
	for i, v := range h {
		if v <= 0 || v > llama2cMaxParams {
			return model.Config{}, fmt.Errorf("header %s = %d is out of range (header %v)", names[i], v, h)
		}
	}
	dim, heads, kv := int(h[0]), int(h[3]), int(h[4])
	if dim%heads != 0 || (dim/heads)%2 != 0 {
		return model.Config{}, fmt.Errorf("header dim = %d is not n_heads = %d times an even head size", dim, heads)
	}
	if heads%kv != 0 {
		return model.Config{}, fmt.Errorf("header n_kv_heads = %d does not divide n_heads = %d", kv, heads)
	}
	return model.Config{
		Architecture: "llama", Dim: dim, Hidden: int(h[1]), Layers: int(h[2]), Heads: heads, KVHeads: kv,
		HeadDim: dim / heads, Vocab: int(h[5]), MaxSeqLen: int(h[6]),
		NormEps: 1e-5, RopeTheta: 10000, TiedEmbeds: shared, RopeInterleaved: true,
		HiddenAct: "silu", BOS: 1, EOS: 2, DType: "float32",
	}, nil
}

// openLlama2C loads a llama2.c .bin with tensors aliasing its mapping.
func openLlama2C(path string, opts Options) (_ *Checkpoint, err error) {
	m, err := safetensors.MapFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama2.c checkpoint: %v", err)
	}
	c := &Checkpoint{Path: path, Format: KindLlama2C, Files: []string{path}, maps: []*safetensors.Mapping{m}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	data := m.Data
	fail := func(format string, args ...any) error {
		return fmt.Errorf("llama2.c checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(data) < llama2cHeaderV0 {
		return nil, fail("file is %d bytes, shorter than the 28-byte header", len(data))
	}
	var h [7]int32
	version, off := 0, llama2cHeaderV0
	var shared bool
	if binary.LittleEndian.Uint32(data) == llama2cMagic {
		if len(data) < llama2cHeaderV1 {
			return nil, fail("file is %d bytes, shorter than the 256-byte version header", len(data))
		}
		version = int(int32(binary.LittleEndian.Uint32(data[4:])))
		if version != 1 {
			return nil, fail("version %d is not supported (supported: 0 legacy fp32, 1 fp32; version 2 is int8-quantized)", version)
		}
		for i := range h {
			h[i] = int32(binary.LittleEndian.Uint32(data[8+4*i:]))
		}
		shared = data[36] != 0
		off = llama2cHeaderV1
	} else {
		for i := range h {
			h[i] = int32(binary.LittleEndian.Uint32(data[4*i:]))
		}
		shared = h[5] > 0
		if h[5] < 0 {
			h[5] = -h[5]
		}
	}
	cfg, err := Llama2CConfig(h, shared)
	if err != nil {
		return nil, fail("%v", err)
	}
	c.Config = cfg
	specs := llama2cLayout(cfg, version)
	var need int64
	for _, s := range specs {
		need = min(need+s.floats, satLimit)
	}
	need = int64(off) + 4*need
	if int64(len(data)) != need {
		return nil, fail("file is %d bytes but its header (dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d, %s classifier, version %d) implies %d bytes (truncated, or not a llama2.c checkpoint)",
			len(data), h[0], h[1], h[2], h[3], h[4], h[5], h[6], map[bool]string{true: "shared", false: "separate"}[shared], version, need)
	}
	var ts []*tensor.Tensor
	pos := int64(off)
	for _, s := range specs {
		block := data[pos : pos+4*s.floats : pos+4*s.floats]
		pos += 4 * s.floats
		if s.skip {
			continue
		}
		per := 4 * s.floats / int64(len(s.names))
		for i, name := range s.names {
			ts = append(ts, &tensor.Tensor{Name: name, DType: tensor.F32, Shape: append([]int(nil), s.shape...),
				Data: block[int64(i)*per : int64(i+1)*per : int64(i+1)*per]})
		}
	}
	if version == 0 {
		c.Notes = append(c.Notes, "skipped the legacy freq_cis_real/freq_cis_imag tables (RoPE is recomputed)")
	}
	fileOf := map[string]string{}
	for _, t := range ts {
		fileOf[t.Name] = path
	}
	c.Tensors, err = order(cfg, ts, fileOf, path)
	if err != nil {
		return nil, err
	}
	if err := c.loadTokenizer(filepath.Dir(path), opts.Tokenizer); err != nil {
		return nil, err
	}
	return c, nil
}

// l2cBlock is one stacked array of a llama2.c file: one tensor per name, each
// of shape, or a skipped table.
type l2cBlock struct {
	names  []string
	shape  []int
	floats int64
	skip   bool
}

func llama2cLayout(c model.Config, version int) []l2cBlock {
	L, D, F, V := c.Layers, c.Dim, c.Hidden, c.Vocab
	kvDim := c.KVHeads * c.HeadDim
	perLayer := func(suffix string, shape ...int) l2cBlock {
		b := l2cBlock{shape: shape, floats: int64(L)}
		for _, d := range shape {
			b.floats = satMul(b.floats, int64(d))
		}
		for l := 0; l < L; l++ {
			b.names = append(b.names, fmt.Sprintf("model.layers.%d.%s", l, suffix))
		}
		return b
	}
	one := func(name string, shape ...int) l2cBlock {
		b := l2cBlock{names: []string{name}, shape: shape, floats: 1}
		for _, d := range shape {
			b.floats = satMul(b.floats, int64(d))
		}
		return b
	}
	emb := one("model.embed_tokens.weight", V, D)
	attNorm := perLayer("input_layernorm.weight", D)
	ffnNorm := perLayer("post_attention_layernorm.weight", D)
	final := one("model.norm.weight", D)
	mats := []l2cBlock{
		perLayer("self_attn.q_proj.weight", D, D),
		perLayer("self_attn.k_proj.weight", kvDim, D),
		perLayer("self_attn.v_proj.weight", kvDim, D),
		perLayer("self_attn.o_proj.weight", D, D),
	}
	ffn := []l2cBlock{
		perLayer("mlp.gate_proj.weight", F, D), // w1
		perLayer("mlp.down_proj.weight", D, F), // w2
		perLayer("mlp.up_proj.weight", F, D),   // w3
	}
	var out []l2cBlock
	if version == 0 {
		freq := l2cBlock{floats: satMul(int64(c.MaxSeqLen), int64(c.HeadDim/2)), skip: true}
		out = append(out, emb, attNorm)
		out = append(out, mats...)
		out = append(out, ffnNorm)
		out = append(out, ffn...)
		out = append(out, final, freq, freq)
	} else {
		out = append(out, attNorm, ffnNorm, final, emb)
		out = append(out, mats...)
		out = append(out, ffn...)
	}
	if !c.TiedEmbeds {
		out = append(out, one("lm_head.weight", V, D))
	}
	return out
}

// PermuteHF maps a row of a llama2.c (interleaved RoPE) q_proj or k_proj
// weight to its row in the Hugging Face (half-split) layout: within each head
// of size headDim, interleaved row 2i+j (pair i, j ∈ {0,1}) becomes row
// j·headDim/2 + i. This is the permutation transformers'
// convert_llama_weights_to_hf.py applies.
func PermuteHF(row, headDim int) int {
	h, r := row/headDim, row%headDim
	return h*headDim + (r%2)*(headDim/2) + r/2
}

// satLimit caps size arithmetic on untrusted header values: any size that
// reaches it cannot match a real file, and capping avoids int64 overflow.
const satLimit = int64(1) << 58

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= satLimit/b {
		return satLimit
	}
	return a * b
}
