package esa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"esa/gpu"
	"esa/stdlib/backend"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rank"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// fakeGPU stands in for a CUDA device in the default build. It computes on
// the CPU backend but, like the GPU backend, keeps its own copy of every
// weight it is handed, made on first use, dropped only by Invalidate and
// updated element by element only by Patch: a weight changed in place
// without either is computed with its old values, as on the GPU. stale
// ignores Invalidate and Patch altogether. It counts what crosses to the
// "device": whole tensors uploaded, elements re-sent by Patch.
type fakeGPU struct {
	backend.Backend
	backend.Host64
	free, total int64
	stale       bool

	mu          sync.Mutex
	copies      map[*tensor.Tensor]*tensor.Tensor
	uses        int                    // weights handed to an op
	uploads     map[*tensor.Tensor]int // whole-tensor uploads, per tensor
	uploadBytes int64
	resent      int64 // elements Patch re-sent to an existing copy
	resentBytes int64
	invalidated int // Invalidate calls
	closed      bool
}

func newFakeGPU(free int64) *fakeGPU {
	cpu := backend.CPU()
	return &fakeGPU{Backend: cpu, Host64: cpu.(backend.Host64), free: free, total: free + 1<<30,
		copies: map[*tensor.Tensor]*tensor.Tensor{}, uploads: map[*tensor.Tensor]int{}}
}

// copyOf is the fake device copy of t.
func (f *fakeGPU) copyOf(t *tensor.Tensor) *tensor.Tensor {
	if t == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		panic("fakeGPU used after Close")
	}
	f.uses++
	c := f.copies[t]
	if c == nil {
		c = &tensor.Tensor{Name: t.Name, Shape: t.Shape, DType: t.DType, Data: bytes.Clone(t.Data)}
		f.copies[t] = c
		f.uploads[t]++
		f.uploadBytes += int64(len(t.Data))
	}
	return c
}

func (f *fakeGPU) Name() string { return "cuda:0" }

func (f *fakeGPU) Invalidate(t *tensor.Tensor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated++
	if !f.stale {
		delete(f.copies, t)
	}
}

func (f *fakeGPU) Embedding(out backend.Buffer, w *tensor.Tensor, ids []int) {
	f.Backend.Embedding(out, f.copyOf(w), ids)
}

func (f *fakeGPU) MatMul(out, x backend.Buffer, w *tensor.Tensor, rows int, accumulate bool) {
	f.Backend.MatMul(out, x, f.copyOf(w), rows, accumulate)
}

func (f *fakeGPU) MatMulBackward(dx, dw, dout, x backend.Buffer, w *tensor.Tensor, rows int, accumulateDX bool) {
	f.Backend.MatMulBackward(dx, dw, dout, x, f.copyOf(w), rows, accumulateDX)
}

func (f *fakeGPU) RMSNorm(out, rstd, x backend.Buffer, w *tensor.Tensor, rows, dim int, eps float64) {
	f.Backend.RMSNorm(out, rstd, x, f.copyOf(w), rows, dim, eps)
}

func (f *fakeGPU) RMSNormBackward(dx, dw, dout, x, rstd backend.Buffer, w *tensor.Tensor, rows, dim int) {
	f.Backend.RMSNormBackward(dx, dw, dout, x, rstd, f.copyOf(w), rows, dim)
}

func (f *fakeGPU) LayerNorm(out, mean, rstd, x backend.Buffer, w, b *tensor.Tensor, rows, dim int, eps float64) {
	f.Backend.LayerNorm(out, mean, rstd, x, f.copyOf(w), f.copyOf(b), rows, dim, eps)
}

func (f *fakeGPU) LayerNormBackward(dx, dw, db, dout, x, mean, rstd backend.Buffer, w *tensor.Tensor, rows, dim int) {
	f.Backend.LayerNormBackward(dx, dw, db, dout, x, mean, rstd, f.copyOf(w), rows, dim)
}

func (f *fakeGPU) AddBias(y backend.Buffer, b *tensor.Tensor, rows, cols int) {
	f.Backend.AddBias(y, f.copyOf(b), rows, cols)
}

func (f *fakeGPU) MemInfo() (free, total int64) { return f.free, f.total }
func (f *fakeGPU) GEMM() string                 { return "fake GEMM (CPU backend)" }

func (f *fakeGPU) Select(ctx context.Context, src []gpu.ScoreTensor, opt rank.Options) (top, bottom *rank.Set, err error) {
	return nil, nil, errors.New("fakeGPU: no device-side selection")
}

func (f *fakeGPU) FlipBits(t *tensor.Tensor, idx []int64, bits []int) error {
	es := int64(t.DType.Size())
	for j, e := range idx {
		t.Data[e*es+int64(bits[j]>>3)] ^= 1 << (bits[j] & 7)
	}
	return f.Patch(t, idx)
}

func (f *fakeGPU) Patch(t *tensor.Tensor, idx []int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := int64(t.Len())
	for _, e := range idx {
		if e < 0 || e >= n {
			return fmt.Errorf("fakeGPU: %s: element %d outside [0, %d)", t.Name, e, n)
		}
	}
	if c := f.copies[t]; c != nil && !f.stale {
		es := int64(t.DType.Size())
		for _, e := range idx {
			copy(c.Data[e*es:(e+1)*es], t.Data[e*es:(e+1)*es])
		}
		f.resent += int64(len(idx))
		f.resentBytes += int64(len(idx)) * es
	}
	return nil
}

func (f *fakeGPU) DeviceChecksum(t *tensor.Tensor) (uint64, error) {
	return gpu.Checksum(f.copyOf(t).Data), nil
}

func (f *fakeGPU) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.copies = nil
	return nil
}

// withFakeGPU makes this process look like a cuda build on a machine with
// one GPU, dev, until the test ends. It returns every ordinal opened.
func withFakeGPU(t *testing.T, dev *fakeGPU) *[]int {
	t.Helper()
	cudaMu.Lock()
	probe := cudaProbe
	cudaMu.Unlock()
	open := openCUDA
	t.Cleanup(func() {
		SetCUDAProbe(probe)
		openCUDA = open
	})
	SetCUDAProbe(func() (int, error) { return 1, nil })
	var opened []int
	openCUDA = func(ordinal int) (gpu.Device, error) {
		opened = append(opened, ordinal)
		return dev, nil
	}
	return &opened
}

// deviceConfig exercises every phase that changes weights in place:
// perturbation of top-k and both controls over two seeds, and the
// super-weight zeroing tests. One sequence at a time: with several, the
// gradient workers take sequences as they come, so sums of gradients are
// not bit-reproducible from run to run, on any backend.
func deviceConfig(t *testing.T) Config {
	c := smallConfig(t)
	c.Metric, c.TopK, c.BatchSize = GradXWeight, 5, 1
	c.Perturb = Zero
	c.Controls = []Control{RandomK, BottomK}
	c.Seeds = []uint64{1, 2}
	c.SuperWeights = true
	return c
}

// sameResults fails unless two runs measured the same numbers.
func sameResults(t *testing.T, got, want *Results) {
	t.Helper()
	if got.Baseline != want.Baseline {
		t.Errorf("baseline %+v, CPU %+v", got.Baseline, want.Baseline)
	}
	if got.Sensitivity.MeanLoss != want.Sensitivity.MeanLoss || !slices.Equal(got.Top.Keys(), want.Top.Keys()) {
		t.Errorf("sensitivity: mean loss %v (CPU %v), top sets equal %v", got.Sensitivity.MeanLoss, want.Sensitivity.MeanLoss, slices.Equal(got.Top.Keys(), want.Top.Keys()))
	}
	for i, s := range want.Perturbation.Seeds {
		for j, w := range s.Sets {
			if g := got.Perturbation.Seeds[i].Sets[j]; g.PPL != w.PPL || g.Accuracy != w.Accuracy {
				t.Errorf("seed %d %s: PPL %v accuracy %v, CPU %v %v", s.Seed, w.Kind, g.PPL, g.Accuracy, w.PPL, w.Accuracy)
			}
		}
	}
	for i, w := range want.SuperWeights.Zeroing {
		g := got.SuperWeights.Zeroing[i]
		if g.ZeroedPPL != w.ZeroedPPL || g.ControlRatioMean != w.ControlRatioMean {
			t.Errorf("super weight %s: zeroed PPL %v controls ×%v, CPU %v ×%v", w.Candidate.Param, g.ZeroedPPL, g.ControlRatioMean, w.ZeroedPPL, w.ControlRatioMean)
		}
	}
}

// TestRunOnDevice: --device cuda runs every pass on the device (the fake
// GPU's copies are what the model computes with) and measures what the CPU
// measures, so every in-place change of a weight reached the device copies;
// the device is closed at the end, and the manifest names it.
func TestRunOnDevice(t *testing.T) {
	c := deviceConfig(t)
	cpu, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu.Backend != nil || cpu.Device != CPU {
		t.Fatalf("CPU run: device %s, backend %+v", cpu.Device, cpu.Backend)
	}
	if len(cpu.SuperWeights.Zeroing) == 0 {
		t.Fatal("no super-weight candidate: the zeroing tests are not exercised")
	}

	dev := newFakeGPU(1 << 40)
	opened := withFakeGPU(t, dev)
	c.Device = CUDA
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*opened, []int{0}) || !dev.closed || dev.uses == 0 {
		t.Fatalf("opened %v, closed %v, %d weight uses on the device", *opened, dev.closed, dev.uses)
	}
	want := BackendInfo{Name: "cuda:0", GEMM: dev.GEMM(), MemoryFree: dev.free, MemoryTotal: dev.total}
	if r.Device != CUDA || r.Backend == nil || *r.Backend != want {
		t.Fatalf("device %s, backend %+v, want %+v", r.Device, r.Backend, want)
	}
	sameResults(t, r, cpu)

	dir := t.TempDir()
	if _, err := r.Save(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "experiment_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Device  Device       `json:"device"`
		Backend *BackendInfo `json:"backend"`
	}
	if err := json.Unmarshal(b, &man); err != nil || man.Device != CUDA || man.Backend == nil || *man.Backend != want {
		t.Errorf("manifest: device %q backend %+v (%v)", man.Device, man.Backend, err)
	}
	if _, err := cpu.Save(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "experiment_manifest.json")); bytes.Contains(b, []byte(`"backend"`)) {
		t.Error("a CPU run's manifest has a backend entry")
	}
}

// TestStaleDeviceIsCaught: a device whose copies ignore Invalidate computes
// every perturbed evaluation with the original weights, and the comparison
// of TestRunOnDevice sees it.
func TestStaleDeviceIsCaught(t *testing.T) {
	c := deviceConfig(t)
	c.Controls, c.Seeds, c.SuperWeights = nil, []uint64{1}, false
	cpu, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dev := newFakeGPU(1 << 40)
	dev.stale = true
	withFakeGPU(t, dev)
	c.Device = CUDA
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, want := r.Perturbation.Seeds[0].Sets[0], cpu.Perturbation.Seeds[0].Sets[0]
	if got.PPL != r.Baseline.Perplexity || want.PPL == got.PPL {
		t.Errorf("stale device: perturbed PPL %v (baseline %v), CPU %v", got.PPL, r.Baseline.Perplexity, want.PPL)
	}
}

// TestHutchinsonOnDevice: hutchinson_diag displaces every scored weight in
// place and back for each probe; the device follows.
func TestHutchinsonOnDevice(t *testing.T) {
	c := smallConfig(t)
	c.Metric, c.Probes, c.TopK, c.BatchSize = HutchinsonDiag, 2, 5, 1 // 1: see deviceConfig
	cpu, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withFakeGPU(t, newFakeGPU(1<<40))
	c.Device = "cuda:0"
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend == nil || !slices.Equal(r.Top.Keys(), cpu.Top.Keys()) {
		t.Errorf("backend %+v; top sets equal %v", r.Backend, slices.Equal(r.Top.Keys(), cpu.Top.Keys()))
	}
	for i := range cpu.Sensitivity.Tensors {
		if g, w := r.Sensitivity.Tensors[i].TensorStats, cpu.Sensitivity.Tensors[i].TensorStats; g.Mean != w.Mean || g.Max != w.Max {
			t.Errorf("%s: mean %v max %v, CPU %v %v", cpu.Sensitivity.Tensors[i].Name, g.Mean, g.Max, w.Mean, w.Max)
		}
	}
}

// TestDeviceMemoryRefused: a GPU without room for the weights is refused
// before any work with the model, what it needs and what the device has;
// with --device auto the run goes to the CPU and says why.
func TestDeviceMemoryRefused(t *testing.T) {
	c := smallConfig(t)
	c.Metric, c.TopK = GradXWeight, 3
	m, err := Load(c.Model, "")
	if err != nil {
		t.Fatal(err)
	}
	est, err := model.EstimateMemory(m.Config, tensor.F32, c.MaxLength, c.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	dev := newFakeGPU(est.Weights / 2)
	withFakeGPU(t, dev)
	c.Device = CUDA
	_, err = Run(context.Background(), c, RunOptions{})
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("want a usage error, got %v", err)
	}
	for _, want := range []string{"--device cuda", "stories260K-hf in F32", "needs ≈" + gigabytes(est.Weights) + " for weights alone", "this device has " + gigabytes(dev.free)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if !dev.closed || dev.uses != 0 {
		t.Errorf("refused device: closed %v, %d weight uses", dev.closed, dev.uses)
	}

	dev = newFakeGPU(est.Weights / 2)
	withFakeGPU(t, dev)
	c.Device = Auto
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Device != CPU || r.Backend != nil || !strings.Contains(strings.Join(r.Notes, "\n"), "device auto runs on the CPU: --device cuda") || dev.uses != 0 {
		t.Errorf("auto: device %s, backend %+v, notes %q, %d device uses", r.Device, r.Backend, r.Notes, dev.uses)
	}
}

// TestDeviceMemoryPerSequenceGradients: each gradient pass in flight holds
// its own float32 gradient on the device, which model.EstimateMemory counts
// once; a device with room for one but not for --batch-size of them is
// refused for a gradient metric, and is enough for magnitude.
func TestDeviceMemoryPerSequenceGradients(t *testing.T) {
	c := smallConfig(t)
	c.Metric, c.TopK, c.BatchSize = GradXWeight, 3, 3
	m, err := Load(c.Model, "")
	if err != nil {
		t.Fatal(err)
	}
	est, err := model.EstimateMemory(m.Config, tensor.F32, c.MaxLength, c.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	var params int64
	for _, p := range m.Params {
		params += int64(p.Len())
	}
	need := est.GradPass + int64(c.BatchSize-1)*4*params
	dev := newFakeGPU(need - 1)
	withFakeGPU(t, dev)
	c.Device = CUDA
	_, err = Run(context.Background(), c, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "needs ≈"+gigabytes(need)+" for gradient passes of 3 sequences at once") {
		t.Fatalf("batch of gradients: %v", err)
	}
	withFakeGPU(t, newFakeGPU(need))
	if _, err := Run(context.Background(), c, RunOptions{}); err != nil {
		t.Errorf("room for every gradient: %v", err)
	}
	withFakeGPU(t, newFakeGPU(need-1))
	c.Metric = Magnitude
	if _, err := Run(context.Background(), c, RunOptions{}); err != nil {
		t.Errorf("magnitude takes no gradients: %v", err)
	}
}

// TestUseDevice: the notebook way onto a device and back; perturbations
// through PerturbEvaluate reach the device copies.
func TestUseDevice(t *testing.T) {
	c := smallConfig(t)
	m, err := Load(c.Model, "")
	if err != nil {
		t.Fatal(err)
	}
	texts := smoke.Smoke()[:3]
	ctx := context.Background()
	base, err := Evaluate(ctx, m, texts, c.MaxLength, 2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sensitivity(ctx, m, texts, GradXWeight, SensitivityOptions{MaxLength: c.MaxLength})
	if err != nil {
		t.Fatal(err)
	}
	top, err := SelectTop(ctx, s, 4, PerLayer)
	if err != nil {
		t.Fatal(err)
	}
	spec := perturb.DefaultSpec(Zero)
	cpuPert, _, err := PerturbEvaluate(ctx, m, s, top, spec, texts, c.MaxLength, 2)
	if err != nil {
		t.Fatal(err)
	}

	if !gpu.Built {
		if _, err := UseDevice(m, CUDA); err == nil || !strings.Contains(err.Error(), "without CUDA support") {
			t.Fatalf("cuda in the default build: %v", err)
		}
		if where, err := UseDevice(m, Auto); err != nil || where != "cpu" || m.Backend().Name() != "cpu-f32" {
			t.Fatalf("auto in the default build: %q, %v, backend %s", where, err, m.Backend().Name())
		}
	}

	dev := newFakeGPU(1 << 40)
	withFakeGPU(t, dev)
	where, err := UseDevice(m, Auto)
	if err != nil || !strings.HasPrefix(where, "cuda:0 (GEMM: "+dev.GEMM()) || m.Backend() != backend.Backend(dev) {
		t.Fatalf("auto with a GPU: %q, %v", where, err)
	}
	got, err := Evaluate(ctx, m, texts, c.MaxLength, 2)
	if err != nil || got != base || dev.uses == 0 {
		t.Fatalf("on the device: %+v (%v), CPU %+v, %d uses", got, err, base, dev.uses)
	}
	pert, _, err := PerturbEvaluate(ctx, m, s, top, spec, texts, c.MaxLength, 2)
	if err != nil || pert != cpuPert {
		t.Errorf("perturbed on the device: %+v (%v), CPU %+v", pert, err, cpuPert)
	}
	if after, _ := Evaluate(ctx, m, texts, c.MaxLength, 2); after != base {
		t.Errorf("after the perturbation: %+v, before %+v", after, base)
	}
	if where, err := UseDevice(m, CPU); err != nil || where != "cpu" || !dev.closed || m.Backend().Name() != "cpu-f32" {
		t.Errorf("back to the CPU: %q, %v, device closed %v, backend %s", where, err, dev.closed, m.Backend().Name())
	}

	small := newFakeGPU(1000)
	withFakeGPU(t, small)
	if _, err := UseDevice(m, CUDA); err == nil || !strings.Contains(err.Error(), "the llama model in F32 needs ≈") || !small.closed {
		t.Errorf("too small a device: %v (closed %v)", err, small.closed)
	}
	if where, err := UseDevice(m, Auto); err != nil || !strings.HasPrefix(where, "cpu (device auto: --device cuda") || m.Backend().Name() != "cpu-f32" {
		t.Errorf("auto, too small a device: %q, %v", where, err)
	}
}

// TestAutoWithoutProbe: without a registered probe (the default build)
// auto is the CPU and cuda:N an error naming the reason; a probe's count
// bounds the ordinals.
func TestAutoWithoutProbe(t *testing.T) {
	cudaMu.Lock()
	probe := cudaProbe
	cudaMu.Unlock()
	t.Cleanup(func() { SetCUDAProbe(probe) })
	if !gpu.Built && probe != nil {
		t.Fatal("the default build registered a CUDA probe")
	}
	SetCUDAProbe(nil)
	if d, err := ResolveDevice(Auto); err != nil || d != CPU {
		t.Errorf("auto → %q, %v", d, err)
	}
	if _, err := ResolveDevice("cuda:1"); err == nil || !strings.Contains(err.Error(), "without CUDA support") {
		t.Errorf("cuda:1: %v", err)
	}
	SetCUDAProbe(func() (int, error) { return 2, nil })
	if d, err := ResolveDevice(Auto); err != nil || d != CUDA {
		t.Errorf("auto with 2 GPUs → %q, %v", d, err)
	}
	if d, err := ResolveDevice("cuda:1"); err != nil || d != "cuda:1" {
		t.Errorf("cuda:1 of 2 → %q, %v", d, err)
	}
	if _, err := ResolveDevice("cuda:2"); err == nil || !strings.Contains(err.Error(), "cuda:0 … cuda:1") {
		t.Errorf("cuda:2 of 2: %v", err)
	}
}
