// Package model holds the transformer families as explicit forward and
// backward code over parameters in their stored dtype.
package model

// Config is the architecture of a model, whatever file it came from. Field
// names follow Hugging Face config.json where one exists.
type Config struct {
	// Architecture is the family: "llama" (also Mistral, Llama-3.x),
	// "mistral", "phi3", "mixtral", "gpt_neox", "gpt2".
	Architecture string

	Dim        int // hidden_size
	Hidden     int // intermediate_size (per expert for MoE)
	Layers     int // num_hidden_layers
	Heads      int // num_attention_heads
	KVHeads    int // num_key_value_heads (== Heads without GQA)
	HeadDim    int // hidden_size / heads unless the config says otherwise
	Vocab      int // vocab_size
	MaxSeqLen  int // max_position_embeddings
	NormEps    float64
	RopeTheta  float64
	TiedEmbeds bool // lm_head shares the embedding matrix

	// RopeInterleaved selects llama2.c's interleaved pairs (2i, 2i+1);
	// false is Hugging Face's half split (i, i+d/2) used by rotate_half.
	RopeInterleaved bool
	// RotaryDim is how many dims of each head are rotated (partial rotary, GPT-NeoX); 0 means HeadDim.
	RotaryDim int
	// RopeScaling is the raw rope_scaling object of config.json (nil if none).
	RopeScaling map[string]any

	SlidingWindow     int  // Mistral; 0 = none
	NumExperts        int  // Mixtral num_local_experts
	ExpertsPerToken   int  // Mixtral num_experts_per_tok
	ParallelResidual  bool // GPT-NeoX use_parallel_residual
	AttentionBias     bool
	MLPBias           bool
	HiddenAct         string // "silu", "gelu", ...
	OriginalMaxSeqLen int    // rope scaling: original_max_position_embeddings

	BOS, EOS int // -1 when absent
	// DType is the stored dtype the config declares ("float32", "bfloat16", ...), informational.
	DType string
}
