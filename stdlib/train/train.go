package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"esa/stdlib/corpus"
	"esa/stdlib/esa/output"
	"esa/stdlib/eval"
	"esa/stdlib/model"
	"esa/stdlib/progress"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
	"esa/stdlib/tokenizer"
)

// Options is the whole recipe of a training run: the same options give the
// same model bit for bit on the same machine (one goroutine order per step).
type Options struct {
	Seed     uint64 // drives the corpus, the initialisation and the batches
	Stories  int    // training stories generated from the seed
	HeldOut  int    // held-out stories (a different generator seed) for perplexity
	Vocab    int    // BPE vocabulary size
	Dim      int
	Layers   int
	Heads    int
	KVHeads  int
	Hidden   int
	SeqLen   int // tokens per training window
	Batch    int // windows per optimiser step
	Steps    int
	LR       float64
	ClipNorm float64 // global gradient-norm clip; 0 = none
}

// DefaultOptions is the recipe of the built-in model (stdlib/builtin).
func DefaultOptions() Options {
	return Options{Seed: 1, Stories: 20000, HeldOut: 200, Vocab: 512, Dim: 96, Layers: 4, Heads: 6,
		KVHeads: 2, Hidden: 256, SeqLen: 128, Batch: 8, Steps: 3000, LR: 3e-3, ClipNorm: 1}
}

// Result reports a finished run.
type Result struct {
	Params        int64
	Seconds       float64
	TrainTokens   int
	FinalLoss     float64 // mean NLL of the last 50 steps' batches
	HeldOut       eval.Result
	GreedySample  string
	TokensTrained int
}

// Run trains a model with opts and writes a Hugging Face directory (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json) to outDir.
func Run(ctx context.Context, opts Options, outDir string, log io.Writer, rep progress.Reporter) (*Result, error) {
	rep = progress.Or(rep)
	start := time.Now()
	stories := corpus.Stories(opts.Seed, opts.Stories)
	tokJSON, err := TrainBPE(stories, opts.Vocab)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if err := output.WriteFile(filepath.Join(outDir, "tokenizer.json"), tokJSON); err != nil {
		return nil, err
	}
	tokCfg := []byte(`{"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": ` + fmt.Sprint(opts.SeqLen) + "}\n")
	if err := output.WriteFile(filepath.Join(outDir, "tokenizer_config.json"), tokCfg); err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadHFDir(outDir)
	if err != nil {
		return nil, fmt.Errorf("train: the trained tokenizer does not load: %v", err)
	}

	// One token stream: <s> story </s> <s> story </s> ...
	var stream []int
	for _, s := range stories {
		stream = append(stream, tok.BOS())
		stream = append(stream, tok.Encode(s)...)
		stream = append(stream, tok.EOS())
	}
	if len(stream) < opts.SeqLen+1 {
		return nil, fmt.Errorf("train: corpus of %d tokens is shorter than one window of %d", len(stream), opts.SeqLen)
	}

	cfg := model.Config{Architecture: "llama", Dim: opts.Dim, Hidden: opts.Hidden, Layers: opts.Layers,
		Heads: opts.Heads, KVHeads: opts.KVHeads, HeadDim: opts.Dim / opts.Heads, Vocab: tok.VocabSize(),
		MaxSeqLen: opts.SeqLen, NormEps: 1e-5, RopeTheta: 10000, TiedEmbeds: true, BOS: tok.BOS(), EOS: tok.EOS(),
		HiddenAct: "silu", DType: "float32"}
	m, err := initModel(cfg, opts.Seed)
	if err != nil {
		return nil, err
	}
	m.Tokenizer = tok
	var nParams int64
	params := make([][]float32, len(m.Params))
	decay := make([]bool, len(m.Params))
	for i, t := range m.Params {
		params[i] = t.F32()
		decay[i] = len(t.Shape) >= 2
		nParams += int64(t.Len())
	}
	fmt.Fprintf(log, "train: %d stories, %d tokens, vocab %d, %d parameters\n", len(stories), len(stream), cfg.Vocab, nParams)

	opt := NewAdamW(opts.LR)
	g := m.NewGrads()
	r := rand.New(rand.NewPCG(opts.Seed, 0xba7c4))
	var recent []float64
	for step := 0; step < opts.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g.Zero()
		var sum float64
		var n int
		for b := 0; b < opts.Batch; b++ {
			off := r.IntN(len(stream) - opts.SeqLen)
			s, k, err := m.LossAndGrad(stream[off:off+opts.SeqLen], g)
			if err != nil {
				return nil, err
			}
			sum += s
			n += k
		}
		scale := float32(1 / float64(n))
		var norm2 float64
		for _, v := range g.G {
			for j := range v {
				v[j] *= scale
				norm2 += float64(v[j]) * float64(v[j])
			}
		}
		if norm := math.Sqrt(norm2); opts.ClipNorm > 0 && norm > opts.ClipNorm {
			c := float32(opts.ClipNorm / norm)
			for _, v := range g.G {
				for j := range v {
					v[j] *= c
				}
			}
		}
		opt.Step(params, g.G, decay, CosineLR(opts.LR, step, opts.Steps/20, opts.Steps, 0.1))
		loss := sum / float64(n)
		recent = append(recent, loss)
		if len(recent) > 50 {
			recent = recent[1:]
		}
		if step%100 == 0 || step == opts.Steps-1 {
			fmt.Fprintf(log, "step %5d  loss %.4f  %.0fs\n", step, loss, time.Since(start).Seconds())
		}
		rep.Progress("train", step+1, opts.Steps)
	}
	res := &Result{Params: nParams, TrainTokens: len(stream), TokensTrained: opts.Steps * opts.Batch * opts.SeqLen}
	for _, l := range recent {
		res.FinalLoss += l / float64(len(recent))
	}
	held := corpus.Stories(opts.Seed+1000, opts.HeldOut)
	res.HeldOut, err = eval.Evaluate(ctx, m, held, eval.Options{MaxLength: opts.SeqLen}, nil)
	if err != nil {
		return nil, err
	}
	ids, err := m.Generate(ctx, []int{tok.BOS()}, 60, tok.EOS())
	if err != nil {
		return nil, err
	}
	res.GreedySample = tok.Decode(ids, true)
	res.Seconds = time.Since(start).Seconds()

	if err := safetensors.Write(filepath.Join(outDir, "model.safetensors"), m.Params,
		map[string]string{"format": "pt", "recipe": fmt.Sprintf("%+v", opts)}); err != nil {
		return nil, err
	}
	cj, err := json.MarshalIndent(map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": cfg.Dim, "intermediate_size": cfg.Hidden, "num_hidden_layers": cfg.Layers,
		"num_attention_heads": cfg.Heads, "num_key_value_heads": cfg.KVHeads, "vocab_size": cfg.Vocab,
		"max_position_embeddings": cfg.MaxSeqLen, "rms_norm_eps": cfg.NormEps, "rope_theta": cfg.RopeTheta,
		"hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": cfg.BOS, "eos_token_id": cfg.EOS,
		"attention_bias": false, "mlp_bias": false, "torch_dtype": "float32",
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := output.WriteFile(filepath.Join(outDir, "config.json"), append(cj, '\n')); err != nil {
		return nil, err
	}
	return res, nil
}

// initModel draws GPT-2-style initial weights: N(0, 0.02) for matrices, with
// the residual projections (o_proj, down_proj) scaled by 1/√(2·layers), unit
// norm gains.
func initModel(cfg model.Config, seed uint64) (*model.Model, error) {
	specs, err := model.Specs(cfg)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x1417))
	ts := make([]*tensor.Tensor, len(specs))
	for i, s := range specs {
		t := tensor.New(s.Name, tensor.F32, s.Shape...)
		v := t.F32()
		if len(s.Shape) == 1 {
			for j := range v {
				v[j] = 1
			}
		} else {
			std := 0.02
			if isResidualOut(s.Name) {
				std /= math.Sqrt(2 * float64(cfg.Layers))
			}
			for j := range v {
				v[j] = float32(r.NormFloat64() * std)
			}
		}
		ts[i] = t
	}
	return model.New(cfg, ts)
}

func isResidualOut(name string) bool {
	return strings.HasSuffix(name, ".o_proj.weight") || strings.HasSuffix(name, ".down_proj.weight")
}
