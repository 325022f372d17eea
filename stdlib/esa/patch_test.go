package esa

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/backend"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/esa/superweight"
	"esa/stdlib/model"
)

// checkPatchedOnly fails unless dev received every weight exactly once as a
// whole tensor, was never told to drop one, and re-sent exactly changed
// elements (bytes of the model's stored dtype each) by Patch.
func checkPatchedOnly(t *testing.T, dev *fakeGPU, changed int64) {
	t.Helper()
	for w, n := range dev.uploads {
		if n != 1 {
			t.Errorf("%s uploaded whole %d times", w.Name, n)
		}
	}
	if dev.invalidated != 0 {
		t.Errorf("%d whole device copies dropped (Invalidate)", dev.invalidated)
	}
	if dev.resent != changed {
		t.Errorf("re-sent %d elements (%d bytes), want %d: each changed weight once at the change and once at the restore", dev.resent, dev.resentBytes, changed)
	}
}

// TestPerturbationPatchesDevice: every perturbation kind, with both
// controls over two seeds and the super-weight zeroing tests, measures on a
// device what it measures on the CPU while the device re-sends only the
// weights that changed — at the change and at the restore — and never a
// whole tensor again after the first upload.
func TestPerturbationPatchesDevice(t *testing.T) {
	for _, tc := range []struct {
		kind Perturbation
		set  func(c *Config)
	}{
		{Zero, nil},
		{SignFlip, func(c *Config) { c.PerturbScale = 0.5 }},
		{GaussNoise, func(c *Config) { c.StabilityCheck = true }}, // different sets per seed
		// p = 0.5: some selected weights are left alone and not re-sent.
		{BitFlip, func(c *Config) { c.PerturbProb, c.PerturbBit = 0.5, "random" }},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			c := deviceConfig(t)
			c.Perturb = tc.kind
			if tc.set != nil {
				tc.set(&c)
			}
			cpu, err := Run(context.Background(), c, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dev := newFakeGPU(1 << 40)
			withFakeGPU(t, dev)
			c.Device = CUDA
			r, err := Run(context.Background(), c, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameResults(t, r, cpu)

			var changed, selected int64
			for _, s := range r.Perturbation.Seeds {
				for _, set := range s.Sets {
					changed += int64(set.Changed)
					selected += int64(set.Selected)
				}
			}
			if changed == 0 {
				t.Fatal("no weight changed: nothing was exercised")
			}
			if tc.kind == BitFlip && changed == selected {
				t.Errorf("bit_flip at p 0.5 changed all %d selected weights: unchanged ones are not exercised", selected)
			}
			for _, z := range r.SuperWeights.Zeroing {
				// Zeroing changes a weight unless it is +0 already.
				for _, w := range append([]float64{z.Candidate.Weight}, controlWeights(z.Controls)...) {
					if w != 0 || math.Signbit(w) {
						changed++
					}
				}
			}
			checkPatchedOnly(t, dev, 2*changed)
		})
	}
}

func controlWeights(cs []superweight.Control) []float64 {
	w := make([]float64, len(cs))
	for i, c := range cs {
		w[i] = c.Weight
	}
	return w
}

func mustLoad(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPerturbModelPhi3Views: Phi-3's layers compute with row views of the
// fused qkv_proj and gate_up_proj, separate tensors with copies of their
// own on a device. A perturbation of weights in every view (and of an
// unfused weight) re-sends each changed weight to the view holding it: the
// device computes exactly the CPU's logits while perturbed and the
// original ones after the restore, without a whole tensor re-sent.
func TestPerturbModelPhi3Views(t *testing.T) {
	m := mustLoad(t, phi3Tiny)
	ids := phi3IDs(m)
	logits := func() []uint32 {
		b := make([]uint32, 0, len(ids)*m.Config.Vocab)
		for _, v := range forwardLogits(t, m, ids) {
			b = append(b, math.Float32bits(v))
		}
		return b
	}
	targets, params := phi3Targets(t, m)
	for _, kind := range []Perturbation{Zero, SignFlip, GaussNoise, BitFlip} {
		t.Run(string(kind), func(t *testing.T) {
			dev := newFakeGPU(1 << 40)
			m.SetBackend(dev)
			defer m.SetBackend(backend.CPU())
			base := logits()
			for _, tg := range targets[:2] {
				if dev.copies[tg.T] != nil {
					t.Fatalf("%s has a device copy of its own: the count below assumes only its views do", tg.T.Name)
				}
			}
			spec := perturb.DefaultSpec(kind)
			spec.Seed, spec.Prob, spec.Bit = 5, 0.5, perturb.RandomBit
			res, err := perturbModel(context.Background(), m, targets, params, spec, func(context.Context) error {
				got := logits()
				m.SetBackend(backend.CPU())
				want := logits()
				m.SetBackend(dev)
				if !slices.Equal(got, want) {
					t.Error("perturbed: the device's logits differ from the CPU's")
				}
				if slices.Equal(got, base) {
					t.Error("perturbed: logits equal the unperturbed ones")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed == 0 {
				t.Fatal("nothing changed")
			}
			if !slices.Equal(logits(), base) {
				t.Error("after the restore: the device's logits differ from the original ones")
			}
			checkPatchedOnly(t, dev, 2*int64(res.Changed))
		})
	}
}

// phi3Tiny is the tiny Phi-3 checkpoint of package model's tests.
var phi3Tiny = filepath.Join("..", "model", "testdata", "tiny", "phi3")

// phi3IDs is a fixed token sequence for m.
func phi3IDs(m *model.Model) []int {
	ids := make([]int, 24)
	for i := range ids {
		ids[i] = (7*i + 3) % m.Config.Vocab
	}
	return ids
}

// forwardLogits is one forward pass of m over ids on its current backend.
func forwardLogits(t *testing.T, m *model.Model, ids []int) []float32 {
	t.Helper()
	p, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	return slices.Clone(p.Logits)
}

// phi3Targets selects weights in every row view of a fused qkv_proj and
// gate_up_proj (one every third row) and of an unfused o_proj.
func phi3Targets(t *testing.T, m *model.Model) ([]perturb.Target, []int) {
	t.Helper()
	var targets []perturb.Target
	var params []int
	for _, name := range []string{"model.layers.0.self_attn.qkv_proj.weight", "model.layers.1.mlp.gate_up_proj.weight", "model.layers.1.self_attn.o_proj.weight"} {
		p := m.ParamIndex(name)
		if p < 0 {
			t.Fatalf("no %s", name)
		}
		w := m.Params[p]
		var flat []int64
		for r := 0; r < w.Rows(); r += 3 {
			flat = append(flat, int64(r*w.Cols()+r%w.Cols()))
		}
		targets = append(targets, perturb.Target{T: w, Flat: flat})
		params = append(params, p)
	}
	return targets, params
}

// TestPerturbModelFailureDropsCopies: when a perturbation's evaluation
// fails, the weights are restored on the device as well; and a notice the
// model refuses (an element outside the tensor) drops the copies instead.
func TestPerturbModelFailureDropsCopies(t *testing.T) {
	m := mustLoad(t, testmodels.Path(t, "stories260K-hf"))
	dev := newFakeGPU(1 << 40)
	m.SetBackend(dev)
	defer m.SetBackend(backend.CPU())
	ids := []int{1, 5, 9, 13, 17}
	forward := func() []float32 {
		p, err := m.Forward(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		return slices.Clone(p.Logits)
	}
	base := forward()
	p := m.DownProjs(0)[0]
	w := m.Params[p]
	tg := []perturb.Target{{T: w, Flat: []int64{0, 1, int64(w.Len() - 1)}}}
	_, err := perturbModel(context.Background(), m, tg, []int{p}, perturb.DefaultSpec(SignFlip), func(context.Context) error {
		return context.Canceled
	})
	if err == nil {
		t.Fatal("the evaluation's error was lost")
	}
	if dev.copies[w] != nil || dev.invalidated == 0 {
		t.Error("after a failure the touched tensor's copy was kept")
	}
	if !slices.Equal(forward(), base) {
		t.Error("after a failed perturbation the device computes other logits")
	}

	// A report the model refuses: Changed of an element outside the tensor.
	before := dev.invalidated
	bad := perturb.ReportTo(m, []int{p})([]perturb.Target{{T: w, Flat: []int64{int64(w.Len())}}})
	if bad == nil || dev.invalidated == before || dev.copies[w] != nil {
		t.Errorf("out-of-range report: error %v, copy kept %v", bad, dev.copies[w] != nil)
	}
}
