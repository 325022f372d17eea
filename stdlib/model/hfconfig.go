package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// hfFamilies lists the config.json model_type values ParseHFConfig accepts.
var hfFamilies = []string{"gpt2", "gpt_neox", "llama", "mistral", "mixtral", "phi3"}

// architectureTypes maps config.json "architectures" class names to
// model_type, for configs written without model_type.
var architectureTypes = map[string]string{
	"LlamaForCausalLM":   "llama",
	"MistralForCausalLM": "mistral",
	"MixtralForCausalLM": "mixtral",
	"Phi3ForCausalLM":    "phi3",
	"GPTNeoXForCausalLM": "gpt_neox",
	"GPT2LMHeadModel":    "gpt2",
}

// HFFamilies returns the supported model_type values.
func HFFamilies() []string { return append([]string(nil), hfFamilies...) }

// hfMaxDim bounds every size in a config so that sizes derived from it
// (parameter counts, memory estimates) cannot overflow; real models are
// orders of magnitude below it.
const hfMaxDim = 1 << 24

// ParseHFConfig reads a Hugging Face config.json into a Config, mapping each
// family's field names, applying the family defaults Hugging Face applies for
// optional fields, and validating the result. Errors name the field.
func ParseHFConfig(data []byte) (Config, error) {
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Config{}, fmt.Errorf("config is not a JSON object: %v", err)
	}
	if raw == nil {
		return Config{}, fmt.Errorf("config is not a JSON object")
	}
	r := &hfReader{m: raw}
	mt, err := r.modelType()
	if err != nil {
		return Config{}, err
	}
	c := Config{Architecture: mt, BOS: -1, EOS: -1}
	switch mt {
	case "llama", "mistral", "mixtral", "phi3":
		r.llamaLike(&c)
	case "gpt_neox":
		r.gptNeoX(&c)
	case "gpt2":
		r.gpt2(&c)
	}
	c.BOS = r.tokenID("bos_token_id")
	c.EOS = r.tokenID("eos_token_id")
	c.DType = r.str("torch_dtype", r.str("dtype", ""))
	if r.err != nil {
		return Config{}, r.err
	}
	if err := hfValidate(&c, r.has("head_dim")); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (r *hfReader) llamaLike(c *Config) {
	mt := c.Architecture
	c.Dim = r.requiredInt("hidden_size")
	c.Hidden = r.requiredInt("intermediate_size")
	c.Layers = r.requiredInt("num_hidden_layers")
	c.Heads = r.requiredInt("num_attention_heads")
	c.KVHeads = r.int("num_key_value_heads", c.Heads)
	c.Vocab = r.requiredInt("vocab_size")
	// Defaults below are those of the transformers config classes.
	defMaxPos, defEps, defTheta := 2048, 1e-6, 10000.0
	switch mt {
	case "mistral":
		defMaxPos = 4096 * 32
	case "mixtral":
		defMaxPos, defEps, defTheta = 4096*32, 1e-5, 1e6
	case "phi3":
		defMaxPos, defEps = 4096, 1e-5
	}
	c.MaxSeqLen = r.int("max_position_embeddings", defMaxPos)
	c.NormEps = r.float("rms_norm_eps", defEps)
	c.RopeTheta = r.float("rope_theta", defTheta)
	c.TiedEmbeds = r.bool("tie_word_embeddings", false)
	c.HiddenAct = r.str("hidden_act", "silu")
	c.AttentionBias = r.bool("attention_bias", false)
	c.MLPBias = r.bool("mlp_bias", false)
	c.HeadDim = r.int("head_dim", 0)
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	c.RopeScaling = r.object("rope_scaling")
	if mt != "llama" {
		c.SlidingWindow = r.int("sliding_window", 0)
	}
	if mt == "mixtral" {
		c.NumExperts = r.int("num_local_experts", 8)
		c.ExpertsPerToken = r.int("num_experts_per_tok", 2)
	}
	if mt == "phi3" {
		if f := r.float("partial_rotary_factor", 1); f != 1 {
			c.RotaryDim = hfRotaryDim(r, "partial_rotary_factor", c.HeadDim, f)
		}
		c.OriginalMaxSeqLen = r.int("original_max_position_embeddings", 0)
	}
	if c.OriginalMaxSeqLen == 0 && c.RopeScaling != nil {
		if v, ok := c.RopeScaling["original_max_position_embeddings"].(json.Number); ok {
			if n, err := v.Int64(); err == nil && n > 0 && n <= math.MaxInt32 {
				c.OriginalMaxSeqLen = int(n)
			} else {
				r.fail("rope_scaling.original_max_position_embeddings = %s is not a positive integer", v)
			}
		}
	}
}

func (r *hfReader) gptNeoX(c *Config) {
	c.Dim = r.requiredInt("hidden_size")
	c.Hidden = r.requiredInt("intermediate_size")
	c.Layers = r.requiredInt("num_hidden_layers")
	c.Heads = r.requiredInt("num_attention_heads")
	c.KVHeads = c.Heads
	c.Vocab = r.requiredInt("vocab_size")
	c.MaxSeqLen = r.int("max_position_embeddings", 2048)
	c.NormEps = r.float("layer_norm_eps", 1e-5)
	// Newer transformers renamed rotary_emb_base/rotary_pct to
	// rope_theta/partial_rotary_factor; accept either spelling.
	c.RopeTheta = r.float("rope_theta", r.float("rotary_emb_base", 10000))
	pctField := "rotary_pct"
	if !r.has(pctField) && r.has("partial_rotary_factor") {
		pctField = "partial_rotary_factor"
	}
	pct := r.float(pctField, 0.25)
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	c.RotaryDim = hfRotaryDim(r, pctField, c.HeadDim, pct)
	c.RopeScaling = r.object("rope_scaling")
	c.ParallelResidual = r.bool("use_parallel_residual", true)
	c.TiedEmbeds = r.bool("tie_word_embeddings", false)
	c.AttentionBias = r.bool("attention_bias", true)
	c.MLPBias = true // dense_h_to_4h and dense_4h_to_h always carry a bias
	c.HiddenAct = r.str("hidden_act", "gelu")
}

func (r *hfReader) gpt2(c *Config) {
	c.Dim = r.requiredInt("n_embd")
	c.Layers = r.requiredInt("n_layer")
	c.Heads = r.requiredInt("n_head")
	c.KVHeads = c.Heads
	c.Hidden = r.int("n_inner", 4*c.Dim)
	c.Vocab = r.requiredInt("vocab_size")
	c.MaxSeqLen = r.int("n_positions", 1024)
	c.NormEps = r.float("layer_norm_epsilon", 1e-5)
	c.TiedEmbeds = r.bool("tie_word_embeddings", true)
	c.AttentionBias = true
	c.MLPBias = true
	c.HiddenAct = r.str("activation_function", "gelu_new")
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
}

// rotaryDim turns a rotary fraction into a dimension count the way the
// transformers code does (int(head_dim * fraction)).
func hfRotaryDim(r *hfReader, field string, headDim int, f float64) int {
	if !(f > 0 && f <= 1) {
		r.fail("%s = %v must be in (0, 1]", field, f)
		return 0
	}
	return int(float64(headDim) * f)
}

func hfValidate(c *Config, headDimGiven bool) error {
	pos := []struct {
		field string
		v     int
	}{
		{"hidden_size", c.Dim}, {"intermediate_size", c.Hidden}, {"num_hidden_layers", c.Layers},
		{"num_attention_heads", c.Heads}, {"num_key_value_heads", c.KVHeads}, {"vocab_size", c.Vocab},
		{"max_position_embeddings", c.MaxSeqLen},
	}
	if c.Architecture == "gpt2" {
		pos[0].field, pos[1].field, pos[2].field, pos[3].field, pos[6].field = "n_embd", "n_inner", "n_layer", "n_head", "n_positions"
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("config %s = %d must be positive", p.field, p.v)
		}
		if p.v > hfMaxDim && p.field != "max_position_embeddings" && p.field != "n_positions" {
			return fmt.Errorf("config %s = %d is implausibly large (limit %d)", p.field, p.v, hfMaxDim)
		}
	}
	heads := pos[3].field
	if !headDimGiven && c.Dim%c.Heads != 0 {
		return fmt.Errorf("config %s = %d does not divide %s = %d (and no head_dim is given)", heads, c.Heads, pos[0].field, c.Dim)
	}
	if c.HeadDim <= 0 || c.HeadDim > hfMaxDim {
		return fmt.Errorf("config head_dim = %d must be positive", c.HeadDim)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("config num_key_value_heads = %d does not divide num_attention_heads = %d", c.KVHeads, c.Heads)
	}
	if !(c.NormEps > 0) || math.IsInf(c.NormEps, 0) {
		return fmt.Errorf("config norm epsilon = %v must be positive and finite", c.NormEps)
	}
	if c.Architecture != "gpt2" {
		if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
			return fmt.Errorf("config rope_theta = %v must be positive and finite", c.RopeTheta)
		}
		rd := c.RotaryDim
		if rd == 0 && c.Architecture != "gpt_neox" {
			rd = c.HeadDim
		}
		if rd <= 0 || rd > c.HeadDim || rd%2 != 0 {
			return fmt.Errorf("config rotary dimensions = %d (head_dim × rotary_pct or partial_rotary_factor) must be even and in (0, head_dim = %d]", rd, c.HeadDim)
		}
	}
	if c.SlidingWindow < 0 {
		return fmt.Errorf("config sliding_window = %d must not be negative", c.SlidingWindow)
	}
	if c.Architecture == "mixtral" {
		if c.NumExperts <= 0 || c.NumExperts > hfMaxDim {
			return fmt.Errorf("config num_local_experts = %d must be positive", c.NumExperts)
		}
		if c.ExpertsPerToken <= 0 || c.ExpertsPerToken > c.NumExperts {
			return fmt.Errorf("config num_experts_per_tok = %d must be in [1, num_local_experts = %d]", c.ExpertsPerToken, c.NumExperts)
		}
	}
	if c.BOS >= c.Vocab || c.EOS >= c.Vocab {
		return fmt.Errorf("config bos_token_id = %d / eos_token_id = %d must be below vocab_size = %d", c.BOS, c.EOS, c.Vocab)
	}
	return nil
}

// hfReader reads typed fields from a decoded config, keeping the first error.
type hfReader struct {
	m   map[string]any
	err error
}

func (r *hfReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("config "+format, args...)
	}
}

// has reports a field that is present and not null (null means "use the default" in HF configs).
func (r *hfReader) has(k string) bool { return r.m[k] != nil }

func (r *hfReader) modelType() (string, error) {
	if v, ok := r.m["model_type"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("config model_type must be a string, got %s", hfKind(v))
		}
		for _, f := range hfFamilies {
			if s == f {
				return s, nil
			}
		}
		return "", fmt.Errorf("config model_type %q is not supported (supported: %s)", s, strings.Join(hfFamilies, ", "))
	}
	if archs, ok := r.m["architectures"].([]any); ok && len(archs) > 0 {
		if s, ok := archs[0].(string); ok {
			if mt, ok := architectureTypes[s]; ok {
				return mt, nil
			}
			known := make([]string, 0, len(architectureTypes))
			for k := range architectureTypes {
				known = append(known, k)
			}
			sort.Strings(known)
			return "", fmt.Errorf("config has no model_type and architecture %q is not supported (supported: %s)", s, strings.Join(known, ", "))
		}
	}
	return "", fmt.Errorf("config has no model_type (supported: %s)", strings.Join(hfFamilies, ", "))
}

func (r *hfReader) requiredInt(k string) int {
	if !r.has(k) {
		r.fail("%s is missing", k)
		return 0
	}
	return r.int(k, 0)
}

func (r *hfReader) int(k string, def int) int {
	v := r.m[k]
	if v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		r.fail("%s must be an integer, got %s", k, hfKind(v))
		return 0
	}
	i, err := n.Int64()
	if err != nil {
		// Some writers emit integral values as floats ("4096.0").
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			r.fail("%s = %s is not an integer", k, n)
			return 0
		}
		i = int64(f)
	}
	if i < math.MinInt32 || i > math.MaxInt32 {
		r.fail("%s = %s is out of range", k, n)
		return 0
	}
	return int(i)
}

func (r *hfReader) float(k string, def float64) float64 {
	v := r.m[k]
	if v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		r.fail("%s must be a number, got %s", k, hfKind(v))
		return 0
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) {
		r.fail("%s = %s is not a finite number", k, n)
		return 0
	}
	return f
}

func (r *hfReader) bool(k string, def bool) bool {
	v := r.m[k]
	if v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.fail("%s must be true or false, got %s", k, hfKind(v))
	}
	return b
}

func (r *hfReader) str(k, def string) string {
	v := r.m[k]
	if v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.fail("%s must be a string, got %s", k, hfKind(v))
	}
	return s
}

func (r *hfReader) object(k string) map[string]any {
	v := r.m[k]
	if v == nil {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		r.fail("%s must be an object or null, got %s", k, hfKind(v))
	}
	return o
}

// tokenID reads bos/eos ids, which HF writes as an int, a list (several
// end-of-sequence ids; the first is the canonical one) or null; -1 = absent.
func (r *hfReader) tokenID(k string) int {
	v := r.m[k]
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return -1
		}
		v = list[0]
	}
	if v == nil {
		return -1
	}
	n, ok := v.(json.Number)
	if !ok {
		r.fail("%s must be an integer or a list of integers, got %s", k, hfKind(v))
		return -1
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		r.fail("%s = %s is not a token id", k, n)
		return -1
	}
	return int(i)
}

func hfKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
