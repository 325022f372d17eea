//go:build cuda

package esa

import (
	"context"
	"math"
	"testing"

	"esa/gpu"
	"esa/stdlib/backend"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/rank"
)

// needGPU skips unless CUDA device 0 opens as a backend.
func needGPU(t *testing.T) {
	t.Helper()
	dev, err := gpu.New(0)
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	dev.Close()
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }

// TestRunOnCUDA: the probe is registered (auto is the GPU), a --device cuda
// run records the backend, and measures what the CPU measures up to float32
// rounding: baseline, top-k set, every perturbed evaluation and super-weight
// zeroing (so every in-place change reached the device copies).
func TestRunOnCUDA(t *testing.T) {
	needGPU(t)
	if d, err := ResolveDevice(Auto); err != nil || d != CUDA {
		t.Fatalf("auto → %q, %v", d, err)
	}
	c := deviceConfig(t)
	cpu, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Device = CUDA
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Device != CUDA || r.Backend == nil || r.Backend.Name != "cuda:0" || r.Backend.GEMM == "" || r.Backend.MemoryFree <= 0 {
		t.Fatalf("device %s, backend %+v", r.Device, r.Backend)
	}
	t.Logf("backend %+v", *r.Backend)
	if !near(r.Baseline.Perplexity, cpu.Baseline.Perplexity, 1e-4) {
		t.Errorf("baseline PPL %v, CPU %v", r.Baseline.Perplexity, cpu.Baseline.Perplexity)
	}
	if j := rank.Jaccard(r.Top, cpu.Top); j < 0.8 {
		t.Errorf("top-k Jaccard with the CPU's %.3f", j)
	}
	for i, s := range cpu.Perturbation.Seeds {
		for j, w := range s.Sets {
			g := r.Perturbation.Seeds[i].Sets[j]
			if g.Kind == "random_k" && !near(g.PPL, w.PPL, 1e-3) {
				t.Errorf("seed %d %s: PPL %v, CPU %v", s.Seed, w.Kind, g.PPL, w.PPL)
			}
			if g.Kind == "top_k" && g.PPL == r.Baseline.Perplexity {
				t.Errorf("seed %d %s: perturbed PPL equals the baseline %v (device copy not updated?)", s.Seed, w.Kind, g.PPL)
			}
		}
	}
}

// TestUseDeviceKeepsCopiesInSync: after a perturbation through
// PerturbEvaluate, every device copy hashes like the host weights, and the
// evaluation is the one before it.
func TestUseDeviceKeepsCopiesInSync(t *testing.T) {
	needGPU(t)
	c := smallConfig(t)
	m, err := Load(c.Model, "")
	if err != nil {
		t.Fatal(err)
	}
	where, err := UseDevice(m, CUDA)
	if err != nil {
		t.Fatal(err)
	}
	defer UseDevice(m, CPU)
	t.Logf("on %s", where)
	ctx := context.Background()
	texts := smoke.Smoke()[:3]
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
	pert, _, err := PerturbEvaluate(ctx, m, s, top, perturb.DefaultSpec(Zero), texts, c.MaxLength, 2)
	if err != nil || pert.Perplexity == base.Perplexity {
		t.Fatalf("perturbed PPL %v, base %v (%v)", pert.Perplexity, base.Perplexity, err)
	}
	devicesMu.Lock()
	dev := devices[m]
	devicesMu.Unlock()
	for _, p := range m.Params {
		sum, err := dev.DeviceChecksum(p)
		if err != nil || sum != gpu.Checksum(p.Data) {
			t.Errorf("%s: device checksum %016x, host %016x (%v)", p.Name, sum, gpu.Checksum(p.Data), err)
		}
	}
	after, err := Evaluate(ctx, m, texts, c.MaxLength, 2)
	if err != nil || !near(after.Perplexity, base.Perplexity, 1e-9) {
		t.Errorf("after the perturbation PPL %v, before %v (%v)", after.Perplexity, base.Perplexity, err)
	}
}

// TestPhi3ViewsPatchedOnCUDA: on the GPU backend, a perturbation of weights
// in every row view of Phi-3's fused qkv_proj and gate_up_proj reaches the
// views' device copies through Patch (model.Changed): perturbed, the
// device's logits are the CPU's up to float32 rounding, far from the
// unperturbed ones; restored, they are the unperturbed ones again.
func TestPhi3ViewsPatchedOnCUDA(t *testing.T) {
	needGPU(t)
	m := mustLoad(t, phi3Tiny)
	dev, err := gpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	m.SetBackend(dev)
	defer m.SetBackend(backend.CPU())
	ids := phi3IDs(m)
	// maxDiff is the largest |a−b| over the logits, relative to the largest
	// |b| (at least 1).
	maxDiff := func(a, b []float32) float64 {
		d, s := 0.0, 1.0
		for i := range b {
			d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
			s = math.Max(s, math.Abs(float64(b[i])))
		}
		return d / s
	}
	const tol = 1e-4
	base := forwardLogits(t, m, ids)
	targets, params := phi3Targets(t, m)
	for _, kind := range []Perturbation{Zero, SignFlip, GaussNoise} {
		spec := perturb.DefaultSpec(kind)
		spec.Seed = 5
		_, err := perturbModel(context.Background(), m, targets, params, spec, func(context.Context) error {
			got := forwardLogits(t, m, ids)
			m.SetBackend(backend.CPU())
			want := forwardLogits(t, m, ids)
			m.SetBackend(dev)
			if d, moved := maxDiff(got, want), maxDiff(want, base); d > tol || moved <= 100*tol {
				t.Errorf("%s: device vs CPU %.3g, perturbation moved the logits by %.3g", kind, d, moved)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(forwardLogits(t, m, ids), base); d > tol {
			t.Errorf("%s: restored, the logits differ from the unperturbed ones by %.3g", kind, d)
		}
	}
}
