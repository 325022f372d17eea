package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"esa/stdlib/train"
)

func init() {
	register("train", "train a small Llama model on the project's generated stories (the built-in model's recipe)", runTrain)
}

func runTrain(args []string) int {
	o := train.DefaultOptions()
	fs := flag.NewFlagSet("esa train", flag.ContinueOnError)
	out := fs.String("out", "", "output directory for the Hugging Face checkpoint (required)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the corpus, initialisation and batches")
	fs.IntVar(&o.Stories, "stories", o.Stories, "training stories to generate")
	fs.IntVar(&o.HeldOut, "held-out", o.HeldOut, "held-out stories for perplexity")
	fs.IntVar(&o.Vocab, "vocab", o.Vocab, "BPE vocabulary size")
	fs.IntVar(&o.Dim, "dim", o.Dim, "hidden size")
	fs.IntVar(&o.Layers, "layers", o.Layers, "decoder layers")
	fs.IntVar(&o.Heads, "heads", o.Heads, "attention heads")
	fs.IntVar(&o.KVHeads, "kv-heads", o.KVHeads, "key/value heads (grouped-query attention)")
	fs.IntVar(&o.Hidden, "hidden", o.Hidden, "MLP intermediate size")
	fs.IntVar(&o.SeqLen, "seq-len", o.SeqLen, "tokens per training window")
	fs.IntVar(&o.Batch, "batch", o.Batch, "windows per step")
	fs.IntVar(&o.Steps, "steps", o.Steps, "optimiser steps")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate (cosine schedule, 5% warmup)")
	fs.Float64Var(&o.ClipNorm, "clip", o.ClipNorm, "gradient-norm clip (0 = none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "esa train: --out DIR is required (and no positional arguments)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.Run(ctx, o, *out, os.Stderr, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "esa train:", err)
		return 1
	}
	fmt.Printf("parameters: %d\ntraining time: %.1f s\ntokens trained: %d\nfinal train loss: %.4f\n",
		res.Params, res.Seconds, res.TokensTrained, res.FinalLoss)
	fmt.Printf("held-out: perplexity %.3f, token accuracy %.3f over %d texts, %d tokens\n",
		res.HeldOut.Perplexity, res.HeldOut.TokenAccuracy, res.HeldOut.NTexts, res.HeldOut.NTokens)
	fmt.Printf("greedy sample: %q\n", res.GreedySample)
	return 0
}
