//go:build cuda

package gpu

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"esa/internal/testmodels"
	"esa/stdlib/backend"
	"esa/stdlib/checkpoint"
	"esa/stdlib/esa/data"
	"esa/stdlib/esa/rank"
	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

// Model-level checks on a GPU: the shared stories260K checkpoints against
// the CPU backend, and (when scripts/gpu-check.sh provides them) a random
// Llama-3.1-8B-shaped model against transformers, and timings. Results are
// also appended as JSON lines to $ESA_CHECK_OUT/results.jsonl for the
// script's table.

const knownGreedy = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. " +
	"One day, she saw a big, red ball. She wanted to play with it, but it was too high"

// record appends one result line for gpu-check.sh (no-op without ESA_CHECK_OUT).
func record(t testing.TB, check string, ok bool, fields map[string]any) {
	t.Helper()
	dir := os.Getenv("ESA_CHECK_OUT")
	if dir == "" {
		return
	}
	fields["check"], fields["ok"] = check, ok
	line, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "results.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(append(line, '\n'))
}

// relDiff is max |a − b| / max |b| (b the reference); +Inf when either
// holds a NaN or an infinity, so that a broken result never passes.
func relDiff(a, b []float32) float64 {
	var d, s float64
	for i := range b {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(x-y))
		s = max(s, math.Abs(y))
	}
	if s == 0 {
		return d
	}
	return d / s
}

// twoModels opens a checkpoint and builds a CPU model and a device model
// on the same tensors.
func twoModels(t *testing.T, dev Device, path string) (cpu, gpu *model.Model) {
	t.Helper()
	return twoModelsOpt(t, dev, path, checkpoint.Options{})
}

// twoModelsOpt is twoModels with checkpoint options (a dtype conversion).
func twoModelsOpt(t *testing.T, dev Device, path string, opt checkpoint.Options) (cpu, gpu *model.Model) {
	t.Helper()
	c, err := checkpoint.Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if cpu, err = model.New(c.Config, c.Tensors); err != nil {
		t.Fatal(err)
	}
	if gpu, err = model.New(c.Config, c.Tensors); err != nil {
		t.Fatal(err)
	}
	cpu.Tokenizer, gpu.Tokenizer = c.Tokenizer, c.Tokenizer
	gpu.SetBackend(dev)
	return cpu, gpu
}

// calibration is a few fixed sequences: BOS and the first smoke texts.
func calibration(m *model.Model, n int) [][]int {
	var seqs [][]int
	for _, text := range data.Smoke()[:n] {
		ids := append([]int{m.Config.BOS}, m.Tokenizer.Encode(text)...)
		if mx := m.Config.MaxSeqLen; mx > 0 && len(ids) > mx {
			ids = ids[:mx]
		}
		seqs = append(seqs, ids)
	}
	return seqs
}

func TestStoriesMatchesCPU(t *testing.T) {
	dev := openDevice(t)
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		t.Run(rel, func(t *testing.T) {
			cpu, gpu := twoModels(t, dev, testmodels.Path(t, rel))
			seq := calibration(cpu, 1)[0]
			pc, err := cpu.Forward(seq, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Release()
			pg, err := gpu.Forward(seq, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Release()
			d := relDiff(pg.Logits, pc.Logits)
			record(t, "stories logits vs CPU ("+rel+")", d <= 1e-3, map[string]any{"rel_diff": d, "tol": 1e-3, "tokens": len(seq)})
			if d > 1e-3 {
				t.Errorf("logits differ from the CPU backend by %.3g relative (> 1e-3)", d)
			}

			out, err := gpu.Generate(context.Background(), []int{gpu.Config.BOS}, 60, gpu.Config.EOS)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.TrimSpace(gpu.Tokenizer.Decode(out, true))
			record(t, "stories greedy text ("+rel+")", text == knownGreedy, map[string]any{"text": text})
			if text != knownGreedy {
				t.Errorf("greedy decode on the GPU:\n got  %q\n want %q", text, knownGreedy)
			}

			lc, lg, worst, at := lossAndGrads(t, cpu, gpu, seq)
			ok := math.Abs(lg-lc) <= 1e-5*math.Abs(lc) && worst <= 1e-3
			record(t, "stories loss+grads vs CPU ("+rel+")", ok, map[string]any{"loss": lg, "cpu_loss": lc, "worst_grad_rel_diff": worst, "worst_tensor": at})
			if !ok {
				t.Errorf("loss %.9g (CPU %.9g); worst gradient %s differs by %.3g relative", lg, lc, at, worst)
			}
		})
	}
}

// Tolerances of bf16 GEMMs (activations rounded to bf16, unit roundoff 2⁻⁹
// ≈ 2·10⁻³) against float32 on the same bf16 weights, for stories260K (5
// layers). Logits: torch.testing's default relative tolerance for bf16,
// 1.6·10⁻² (2⁻⁶), where the emulator gives 4.2·10⁻³ (the logits carry the
// roundings of every layer's GEMMs). Loss: 2·10⁻³, one bf16 rounding — it
// is a sum over tokens, whose errors partly cancel; the emulator gives
// 4.4·10⁻⁴. Gradients (max |Δ| relative to the tensor's largest): a weight's
// gradient carries the roundings of the forward and of the backward of every
// later layer, more than the logits; 6·10⁻², where the emulator's worst is
// 1.9·10⁻² (layers.1 q_proj). A mapping or scratch bug is off by O(1).
const (
	bf16LogitTol = 1.6e-2
	bf16LossTol  = 2e-3
	bf16GradTol  = 6e-2
)

// TestStoriesBF16GEMM runs stories260K converted to BF16 in the bf16 GEMM
// mode against the CPU backend on the same BF16 weights (float32
// activations): the device rounds every GEMM's activations to bf16, 2⁻⁹
// relative, so the logits, loss and gradients agree only to bf16 tolerances
// (see bf16LogitTol, bf16GradTol), and the greedy text is expected to stay
// the CPU's.
func TestStoriesBF16GEMM(t *testing.T) {
	dev := openDeviceMode(t, "bf16")
	if strings.HasPrefix(dev.GEMM(), "built-in") {
		t.Skipf("GEMM: %s: no bf16 GEMMs without cuBLAS", dev.GEMM())
	}
	if !strings.Contains(dev.GEMM(), ", bf16") {
		t.Fatalf("GEMM() = %q: not in bf16 mode", dev.GEMM())
	}
	cpu, gpu := twoModelsOpt(t, dev, testmodels.Path(t, "stories260K-hf"), checkpoint.Options{DType: "bf16"})
	for _, p := range gpu.Params {
		if len(p.Shape) >= 2 && p.DType != tensor.BF16 {
			t.Fatalf("%s is %s after converting to bf16", p.Name, p.DType)
		}
	}
	seq := calibration(cpu, 1)[0]
	pc, err := cpu.Forward(seq, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Release()
	pg, err := gpu.Forward(seq, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Release()
	d := relDiff(pg.Logits, pc.Logits)
	t.Logf("logits vs CPU on the same bf16 weights: %.3g relative", d)
	record(t, "stories bf16 GEMM logits vs CPU (bf16 weights)", d <= bf16LogitTol, map[string]any{"rel_diff": d, "tol": bf16LogitTol, "tokens": len(seq)})
	if d > bf16LogitTol {
		t.Errorf("bf16 GEMM logits differ from the CPU backend by %.3g relative (> %g)", d, bf16LogitTol)
	}

	ctx := context.Background()
	outC, err := cpu.Generate(ctx, []int{cpu.Config.BOS}, 60, cpu.Config.EOS)
	if err != nil {
		t.Fatal(err)
	}
	outG, err := gpu.Generate(ctx, []int{gpu.Config.BOS}, 60, gpu.Config.EOS)
	if err != nil {
		t.Fatal(err)
	}
	textC := strings.TrimSpace(cpu.Tokenizer.Decode(outC, true))
	textG := strings.TrimSpace(gpu.Tokenizer.Decode(outG, true))
	t.Logf("greedy text, bf16 GEMMs: %q (CPU on bf16 weights: same %v; the float32 checkpoint's text: same %v)", textG, textG == textC, textG == knownGreedy)
	record(t, "stories bf16 GEMM greedy text == CPU's (bf16 weights)", textG == textC, map[string]any{"text": textG, "fp32_text": textG == knownGreedy})
	if textG != textC {
		t.Errorf("greedy decode with bf16 GEMMs:\n got  %q\n CPU  %q", textG, textC)
	}

	lc, lg, worst, at := lossAndGrads(t, cpu, gpu, seq)
	dl := math.Abs(lg-lc) / math.Abs(lc)
	t.Logf("loss %.7g (CPU %.7g, %.3g relative); worst gradient %s %.3g relative", lg, lc, dl, at, worst)
	ok := dl <= bf16LossTol && worst <= bf16GradTol
	record(t, "stories bf16 GEMM loss+grads vs CPU (bf16 weights)", ok, map[string]any{"loss": lg, "cpu_loss": lc, "loss_rel_diff": dl,
		"worst_grad_rel_diff": worst, "worst_tensor": at})
	if !ok {
		t.Errorf("bf16 GEMMs: loss %.9g (CPU %.9g, %.3g relative > %g?); worst gradient %s differs by %.3g relative (> %g?)",
			lg, lc, dl, bf16LossTol, at, worst, bf16GradTol)
	}
}

// lossAndGrads runs LossAndGrad on seq on both models and returns both
// losses, and the gradient tensor that differs most (relDiff) and by how much.
func lossAndGrads(t *testing.T, cpu, gpu *model.Model, seq []int) (lc, lg, worst float64, at string) {
	t.Helper()
	gc, gg := cpu.NewGrads(), gpu.NewGrads()
	lc, _, err := cpu.LossAndGrad(seq, gc)
	if err != nil {
		t.Fatal(err)
	}
	lg, _, err = gpu.LossAndGrad(seq, gg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gc.G {
		if d := relDiff(gg.G[i], gc.G[i]); d > worst {
			worst, at = d, cpu.Params[i].Name
		}
	}
	return lc, lg, worst, at
}

// meanGrad is the gradient of the mean token loss over seqs (as package
// sensitivity's grad_x_weight computes it).
func meanGrad(t *testing.T, m *model.Model, seqs [][]int) [][]float32 {
	g := m.NewGrads()
	tokens := 0
	for _, s := range seqs {
		_, n, err := m.LossAndGrad(s, g)
		if err != nil {
			t.Fatal(err)
		}
		tokens += n
	}
	for _, v := range g.G {
		for j := range v {
			v[j] /= float32(tokens)
		}
	}
	return g.G
}

// gradXWeightHost is |g ⊙ w| for the scored (rank ≥ 2) parameters.
func gradXWeightHost(m *model.Model, g [][]float32) (sliceSource, []int) {
	var src sliceSource
	var params []int
	for i, w := range m.Params {
		if len(w.Shape) < 2 {
			continue
		}
		wv := w.Float32()
		s := make([]float32, len(wv))
		for j := range s {
			s[j] = float32(math.Abs(float64(g[i][j]) * float64(wv[j])))
		}
		params = append(params, i)
		src.scores = append(src.scores, s)
		src.info = append(src.info, rank.TensorInfo{Name: w.Name, Shape: w.Shape})
	}
	return src, params
}

func sameSet(a, b *rank.Set, scores bool) bool {
	return slices.EqualFunc(a.Entries, b.Entries, func(x, y rank.Entry) bool {
		return x.Tensor == y.Tensor && x.Flat == y.Flat && (!scores || math.Float32bits(x.Score) == math.Float32bits(y.Score))
	})
}

// tiesOnly checks that set a (from GPU scores) equals set b (from the CPU
// scores src) but for elements whose CPU score is within twice the gradient
// tolerance (1e-3 of the largest score of the group: all tensors when
// global, else the element's tensor) of b's boundary score.
func tiesOnly(a, b *rank.Set, src sliceSource, global, bottom bool) (swaps int, err error) {
	group := func(e rank.Entry) int {
		if global {
			return -1
		}
		return e.Tensor
	}
	bound, scale := map[int]float64{}, map[int]float64{}
	for _, e := range b.Entries {
		g, s := group(e), float64(e.Score)
		if v, ok := bound[g]; !ok || (bottom && s > v) || (!bottom && s < v) {
			bound[g] = s
		}
	}
	for ti, sc := range src.scores {
		for _, v := range sc {
			g := ti
			if global {
				g = -1
			}
			scale[g] = math.Max(scale[g], math.Abs(float64(v)))
		}
	}
	key := func(e rank.Entry) [2]int64 { return [2]int64{int64(e.Tensor), e.Flat} }
	inA, inB := map[[2]int64]bool{}, map[[2]int64]bool{}
	for _, e := range a.Entries {
		inA[key(e)] = true
	}
	for _, e := range b.Entries {
		inB[key(e)] = true
	}
	check := func(e rank.Entry, other map[[2]int64]bool) error {
		if other[key(e)] {
			return nil
		}
		swaps++
		g := group(e)
		s := float64(src.scores[e.Tensor][e.Flat])
		if d := math.Abs(s - bound[g]); d > 2e-3*scale[g] {
			return fmt.Errorf("%s[%d] (CPU score %.6g) is in one set only, %.3g from the boundary %.6g: more than the tolerance %.3g",
				src.info[e.Tensor].Name, e.Flat, s, d, bound[g], 2e-3*scale[g])
		}
		return nil
	}
	if len(a.Entries) != len(b.Entries) {
		return 0, fmt.Errorf("%d entries, CPU %d", len(a.Entries), len(b.Entries))
	}
	for _, e := range a.Entries {
		if err := check(e, inB); err != nil {
			return swaps, err
		}
	}
	for _, e := range b.Entries {
		if err := check(e, inA); err != nil {
			return swaps, err
		}
	}
	return swaps / 2, nil
}

func TestStoriesTopK(t *testing.T) {
	dev := openDevice(t)
	cpu, gpu := twoModels(t, dev, testmodels.Path(t, "stories260K-hf"))
	seqs := calibration(cpu, 8)
	gc, gg := meanGrad(t, cpu, seqs), meanGrad(t, gpu, seqs)
	srcC, params := gradXWeightHost(cpu, gc)
	srcG, _ := gradXWeightHost(gpu, gg)
	ctx := context.Background()
	for _, opt := range []rank.Options{{K: 100, Global: true, Top: true, Bottom: true}, {K: 10, Top: true, Bottom: true}} {
		name := fmt.Sprintf("k=%d global=%v", opt.K, opt.Global)
		ct, cb, err := rank.Select(ctx, srcC, opt)
		if err != nil {
			t.Fatal(err)
		}
		ht, hb, err := rank.Select(ctx, srcG, opt)
		if err != nil {
			t.Fatal(err)
		}
		// The GPU backend's gradients give the same sets as the CPU's, up to
		// near-ties: the gradients agree to 1e-3 of each tensor's largest
		// (TestStoriesMatchesCPU), so scores that close to the k-th may swap
		// across the boundary — in the bottom sets, where scores are tiny,
		// they do.
		swT, errT := tiesOnly(ht, ct, srcC, opt.Global, false)
		swB, errB := tiesOnly(hb, cb, srcC, opt.Global, true)
		record(t, "stories grad_x_weight top-k sets, GPU vs CPU gradients ("+name+")", errT == nil && errB == nil,
			map[string]any{"jaccard_top": rank.Jaccard(ht, ct), "jaccard_bottom": rank.Jaccard(hb, cb), "tie_swaps_top": swT, "tie_swaps_bottom": swB})
		t.Logf("%s: Jaccard top %.4f (%d near-tie swaps), bottom %.4f (%d)", name, rank.Jaccard(ht, ct), swT, rank.Jaccard(hb, cb), swB)
		for _, err := range []error{errT, errB} {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// Device selection over the device's gradient equals rank.Select
		// over the same scores on the host, bit for bit.
		var st []ScoreTensor
		for j, p := range params {
			st = append(st, ScoreTensor{Name: srcG.info[j].Name, Metric: MetricGradXWeight, Scores: dev.FromHost(gg[p]), Weight: gpu.Params[p]})
		}
		dt, db, err := dev.Select(ctx, st, opt)
		if err != nil {
			t.Fatal(err)
		}
		ok := sameSet(dt, ht, true) && sameSet(db, hb, true)
		record(t, "stories device top-k == rank.Select ("+name+")", ok, map[string]any{"k": opt.K, "global": opt.Global})
		if !ok {
			t.Errorf("%s: device selection differs from rank.Select on the same scores (Jaccard top %.4f, bottom %.4f)", name, rank.Jaccard(dt, ht), rank.Jaccard(db, hb))
		}
		// Magnitude, and precomputed scores.
		var mag, pre []ScoreTensor
		var srcM sliceSource
		for j, p := range params {
			w := gpu.Params[p]
			mag = append(mag, ScoreTensor{Name: w.Name, Metric: MetricMagnitude, Weight: w})
			pre = append(pre, ScoreTensor{Name: w.Name, Metric: MetricScores, Scores: dev.FromHost(srcG.scores[j])})
			wv := w.Float32()
			s := make([]float32, len(wv))
			for i, v := range wv {
				s[i] = float32(math.Abs(float64(v)))
			}
			srcM.scores = append(srcM.scores, s)
			srcM.info = append(srcM.info, srcG.info[j])
		}
		mt, mb, err := rank.Select(ctx, srcM, opt)
		if err != nil {
			t.Fatal(err)
		}
		dmt, dmb, err := dev.Select(ctx, mag, opt)
		if err != nil {
			t.Fatal(err)
		}
		pt, pb, err := dev.Select(ctx, pre, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSet(dmt, mt, true) || !sameSet(dmb, mb, true) {
			t.Errorf("%s: device magnitude selection differs from rank.Select", name)
		}
		if !sameSet(pt, ht, true) || !sameSet(pb, hb, true) {
			t.Errorf("%s: device selection of uploaded scores differs from rank.Select", name)
		}
	}
}

func TestStoriesPerturbOnDevice(t *testing.T) {
	dev := openDevice(t)
	cpu, gpu := twoModels(t, dev, testmodels.Path(t, "stories260K-hf"))
	seq := calibration(cpu, 1)[0]
	logits := func(m *model.Model) []float32 {
		p, err := m.Forward(seq, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		return append([]float32(nil), p.Logits...)
	}
	base := logits(gpu)
	w := gpu.Param("model.layers.0.mlp.down_proj.weight")
	sum0 := Checksum(w.Data)
	if d, err := dev.DeviceChecksum(w); err != nil || d != sum0 {
		t.Fatalf("device checksum %x (err %v), host %x", d, err, sum0)
	}
	// Mantissa, exponent-LSB and sign bits of float32 weights: finite
	// changes, so the logits stay comparable.
	idx := []int64{0, 5, 5, 77, int64(w.Len() - 1)}
	bits := []int{22, 1, 22, 23, 31}
	if err := dev.FlipBits(w, idx, bits); err != nil {
		t.Fatal(err)
	}
	flipped, err := dev.DeviceChecksum(w)
	if err != nil {
		t.Fatal(err)
	}
	// The device copy follows the host bytes, so the GPU model computes
	// what the CPU model computes on the flipped weights.
	d := relDiff(logits(gpu), logits(cpu))
	if flipped != Checksum(w.Data) || flipped == sum0 || d > 1e-3 {
		t.Errorf("after the flips: device checksum %x, host %x (original %x); logits vs CPU %.3g", flipped, Checksum(w.Data), sum0, d)
	}
	if err := dev.FlipBits(w, idx, bits); err != nil {
		t.Fatal(err)
	}
	restored, _ := dev.DeviceChecksum(w)
	again := logits(gpu)
	ok := restored == sum0 && Checksum(w.Data) == sum0 && slices.Equal(again, base)
	record(t, "stories bit flip + restore on device, checksums", ok, map[string]any{"restored": restored == sum0, "logits_bit_identical": slices.Equal(again, base)})
	if !ok {
		t.Errorf("after restoring: device checksum %x, host %x, original %x; logits identical %v", restored, Checksum(w.Data), sum0, slices.Equal(again, base))
	}
	// Patch: change host bytes, send only those elements.
	es := w.DType.Size()
	old := append([]byte(nil), w.Data[2*es:4*es]...)
	w.Set(2, 1.5)
	w.Set(3, -2)
	if err := dev.Patch(w, []int64{2, 3}); err != nil {
		t.Fatal(err)
	}
	if s, _ := dev.DeviceChecksum(w); s != Checksum(w.Data) {
		t.Errorf("after Patch: device checksum %x, host %x", s, Checksum(w.Data))
	}
	copy(w.Data[2*es:4*es], old)
	if err := dev.Patch(w, []int64{2, 3}); err != nil {
		t.Fatal(err)
	}
	if s, _ := dev.DeviceChecksum(w); s != sum0 {
		t.Errorf("after patching back: device checksum %x, original %x", s, sum0)
	}
}

// ---- transformers reference and timings (scripts/gpu-check.sh) ----

// readReference opens the tensors gpu_check_hf.py wrote.
func readReference(t *testing.T, path string) map[string]*tensor.Tensor {
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := map[string]*tensor.Tensor{}
	for _, x := range f.Tensors {
		out[x.Name] = x
	}
	return out
}

// TestHFReference compares a forward and backward on the device with the
// transformers reference that scripts/gpu_check_hf.py computed in float32
// on the same (bf16-stored) weights. It runs when $ESA_HF_CHECK_DIR holds
// the saved model and reference.safetensors.
func TestHFReference(t *testing.T) {
	dir := os.Getenv("ESA_HF_CHECK_DIR")
	if dir == "" {
		t.Skip("ESA_HF_CHECK_DIR not set (scripts/gpu-check.sh sets it)")
	}
	ref := readReference(t, filepath.Join(dir, "reference.safetensors"))
	dev := openDevice(t)
	t0 := time.Now()
	c, err := checkpoint.Open(filepath.Join(dir, "model"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := model.New(c.Config, c.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	m.SetBackend(dev)
	idsF := ref["ids"].Float32()
	ids := make([]int, len(idsF))
	for i, v := range idsF {
		ids[i] = int(v)
	}
	p, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	dl := relDiff(p.Logits, ref["logits"].Float32())
	p.Release()
	g := m.NewGrads()
	sum, n, err := m.LossAndGrad(ids, g)
	if err != nil {
		t.Fatal(err)
	}
	loss, refLoss := sum/float64(n), ref["loss"].At(0)
	worst, at := 0.0, ""
	checked := 0
	for name, r := range ref {
		pname, ok := strings.CutPrefix(name, "grad.")
		if !ok {
			continue
		}
		i := m.ParamIndex(pname)
		if i < 0 {
			t.Fatalf("reference gradient of %s: no such parameter", pname)
		}
		// The reference is the gradient of the mean loss; ours is of the sum.
		mine := make([]float32, len(g.G[i]))
		for j, v := range g.G[i] {
			mine[j] = v / float32(n)
		}
		if d := relDiff(mine, r.Float32()); d > worst {
			worst, at = d, pname
		}
		checked++
	}
	dLoss := math.Abs(loss-refLoss) / math.Abs(refLoss)
	ok := dl <= 1e-3 && dLoss <= 1e-4 && worst <= 1e-3
	record(t, "HF Llama (random init) vs transformers fp32", ok, map[string]any{"logits_rel_diff": dl, "loss": loss, "ref_loss": refLoss,
		"loss_rel_diff": dLoss, "worst_grad_rel_diff": worst, "worst_grad": at, "grads_checked": checked, "tokens": len(ids),
		"seconds": time.Since(t0).Seconds(), "config": fmt.Sprintf("%d layers, dim %d, vocab %d", c.Config.Layers, c.Config.Dim, c.Config.Vocab)})
	if !ok {
		t.Errorf("vs transformers: logits %.3g, loss %.9g vs %.9g (%.3g), worst gradient %s %.3g", dl, loss, refLoss, dLoss, at, worst)
	}
}

// TestTimings measures forward+backward throughput (Model.LossAndGrad,
// which copies every gradient to the host and back per call, as the model
// API does today) in each GEMM mode of $ESA_TIMING_GEMM (default
// "bf16,tf32,fp32": the mode of the throughput target first, should the
// stage run out of time), each on a device opened for it (New reads the
// mode), and once, after the first mode, a global grad_x_weight top-k over
// every scored weight on the device. It runs when $ESA_TIMING_DIR holds a
// saved model.
func TestTimings(t *testing.T) {
	dir := os.Getenv("ESA_TIMING_DIR")
	if dir == "" {
		t.Skip("ESA_TIMING_DIR not set (scripts/gpu-check.sh sets it)")
	}
	T, _ := strconv.Atoi(os.Getenv("ESA_TIMING_TOKENS"))
	if T <= 0 {
		T = 512
	}
	K, _ := strconv.Atoi(os.Getenv("ESA_TIMING_K"))
	if K <= 0 {
		K = 1000
	}
	reps, _ := strconv.Atoi(os.Getenv("ESA_TIMING_REPS"))
	reps = max(reps, 2)
	modes := strings.Split(cmp.Or(os.Getenv("ESA_TIMING_GEMM"), "bf16,tf32,fp32"), ",")
	c, err := checkpoint.Open(dir, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := model.New(c.Config, c.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, T)
	for i := range ids {
		ids[i] = (i*7919 + 13) % m.Config.Vocab
	}
	var params int64
	for _, w := range m.Params {
		params += int64(w.Len())
	}
	g := m.NewGrads()
	for i, mode := range modes {
		mode = strings.TrimSpace(mode)
		t.Setenv(gemmModeEnv, mode)
		dev, err := New(0)
		if err != nil {
			t.Fatal(err)
		}
		m.SetBackend(dev)
		if _, _, err := m.LossAndGrad(ids, g); err != nil { // warm-up: uploads, JIT, workspaces
			t.Fatal(err)
		}
		t0 := time.Now()
		for r := 0; r < reps; r++ {
			if _, _, err := m.LossAndGrad(ids, g); err != nil {
				t.Fatal(err)
			}
		}
		fb := time.Since(t0).Seconds() / float64(reps)
		fields := map[string]any{"gemm_mode": mode, "tokens": T, "fwd_bwd_seconds": fb, "tokens_per_s": float64(T) / fb,
			"params": params, "gemm": dev.GEMM(), "model_flops_per_s": 6 * float64(params) * float64(T) / fb}
		t.Logf("%s GEMMs: fwd+bwd %d tokens: %.3f s (%.0f tokens/s)", mode, T, fb, float64(T)/fb)
		if i == 0 {
			var st []ScoreTensor
			var scored int64
			for j, w := range m.Params {
				if len(w.Shape) >= 2 {
					s := ScoreTensor{Name: w.Name, Metric: MetricGradXWeight, Scores: dev.FromHost(g.G[j]), Weight: w}
					st = append(st, s)
					scored += s.length()
				}
			}
			t1 := time.Now()
			top, _, err := dev.Select(context.Background(), st, rank.Options{K: K, Global: true, Top: true})
			if err != nil {
				t.Fatal(err)
			}
			sel := time.Since(t1).Seconds()
			fields["scored"], fields["topk_k"], fields["topk_seconds"], fields["topk_found"] = scored, K, sel, top.Len()
			t.Logf("global top-%d over %d scores: %.3f s", K, scored, sel)
		}
		record(t, "timing ours", true, fields)
		// The next mode opens its own device: free this one's memory first.
		m.SetBackend(backend.CPU())
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
