package model_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// Forward+backward throughput on 4 sequences of 256 tokens, the shapes of
// bench/torch/fwdbwd.py (run both for a side-by-side comparison):
//
//	go test ./stdlib/model/ -run '^$' -bench ForwardBackward -benchtime 3x
//	/usr/bin/python3 bench/torch/fwdbwd.py
//
// Besides tok/s they report the process's peak resident memory (VmHWM) and
// the heap the timed passes added (activations, gradients, scratch).

func BenchmarkForwardBackwardStories(b *testing.B) {
	benchFwdBwd(b, storiesConfig())
}

// config70M is a 70M-parameter Llama: dim 512, 6 layers, 8 heads, hidden
// 1376, vocab 50304, untied head.
func config70M() model.Config {
	return model.Config{
		Architecture: "llama", Dim: 512, Hidden: 1376, Layers: 6, Heads: 8, KVHeads: 8,
		Vocab: 50304, MaxSeqLen: 2048, NormEps: 1e-5, RopeTheta: 10000, BOS: 1, EOS: 2,
	}
}

func BenchmarkForwardBackward70M(b *testing.B) {
	benchFwdBwd(b, config70M())
}

func benchFwdBwd(b *testing.B, cfg model.Config) {
	const seqs, T = 4, 256
	m := randomModel(b, cfg, tensor.F32, 1)
	batch := make([][]int, seqs)
	for i := range batch {
		batch[i] = randomIDs(T, cfg.Vocab, uint64(i))
	}
	g := m.NewGrads()
	step := func() {
		g.Zero()
		for _, ids := range batch {
			if _, _, err := m.LossAndGrad(ids, g); err != nil {
				b.Fatal(err)
			}
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	step() // warm: workspaces, pools, GEMM workers
	var warm runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&warm)
	// What one pass keeps beyond weights and gradients: its workspace
	// (activations, gradient scratch, logits) plus pooled scratch.
	passMiB := float64(int64(warm.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	modelMiB := float64(before.HeapAlloc) / (1 << 20)
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(seqs*T*b.N)/b.Elapsed().Seconds(), "tok/s")
	b.ReportMetric(passMiB, "pass-MiB")
	b.ReportMetric(modelMiB, "weights+grads-MiB")
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "VmHWM-MiB")
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MiB/op")
}

// vmHWM is the process's peak resident set in bytes (Linux), 0 if unknown.
func vmHWM() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkGenerate70M is greedy decoding with the KV cache: one single-row
// pass (matrix-vector products) per token after the prompt.
func BenchmarkGenerate70M(b *testing.B) {
	m := randomModel(b, config70M(), tensor.F32, 1)
	const n = 32
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := m.Generate(context.Background(), []int{1}, n, -1)
		if err != nil || len(out) != n {
			b.Fatal(err, len(out))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
}
