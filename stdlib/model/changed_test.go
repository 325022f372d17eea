package model_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// copyBackend is the CPU backend computing, like a GPU backend, with its
// own copy of every weight: made on first use, dropped by Invalidate,
// updated by Patch only. It counts the whole-tensor uploads and the
// elements Patch re-sent to a copy.
type copyBackend struct {
	backend.Backend
	copies      map[*tensor.Tensor]*tensor.Tensor
	uploads     int
	resent      int
	invalidated []*tensor.Tensor
}

func newCopyBackend() *copyBackend {
	return &copyBackend{Backend: backend.CPU(), copies: map[*tensor.Tensor]*tensor.Tensor{}}
}

func (c *copyBackend) copyOf(t *tensor.Tensor) *tensor.Tensor {
	d := c.copies[t]
	if d == nil {
		d = &tensor.Tensor{Name: t.Name, Shape: t.Shape, DType: t.DType, Data: bytes.Clone(t.Data)}
		c.copies[t] = d
		c.uploads++
	}
	return d
}

func (c *copyBackend) Invalidate(t *tensor.Tensor) {
	c.invalidated = append(c.invalidated, t)
	delete(c.copies, t)
}

func (c *copyBackend) Patch(t *tensor.Tensor, idx []int64) error {
	d := c.copies[t]
	if d == nil {
		return nil
	}
	es := int64(t.DType.Size())
	for _, e := range idx {
		copy(d.Data[e*es:(e+1)*es], t.Data[e*es:(e+1)*es])
	}
	c.resent += len(idx)
	return nil
}

// The ops a forward pass hands weights to (Phi-3, Llama).
func (c *copyBackend) Embedding(out backend.Buffer, w *tensor.Tensor, ids []int) {
	c.Backend.Embedding(out, c.copyOf(w), ids)
}

func (c *copyBackend) MatMul(out, x backend.Buffer, w *tensor.Tensor, rows int, accumulate bool) {
	c.Backend.MatMul(out, x, c.copyOf(w), rows, accumulate)
}

func (c *copyBackend) RMSNorm(out, rstd, x backend.Buffer, w *tensor.Tensor, rows, dim int, eps float64) {
	c.Backend.RMSNorm(out, rstd, x, c.copyOf(w), rows, dim, eps)
}

// TestChangedPatchesFusedViews: Phi-3 computes with row views of qkv_proj
// and gate_up_proj, which a device keeps as copies of their own. After an
// in-place edit of elements spread over every view, Changed re-sends each
// edited element once, to the view holding it at the view's offset (and an
// unfused weight's to the weight's own copy), and
// nothing whole: the logits are the CPU's, edited and restored; also after
// ReplaceParam rebuilt the views. Without Changed the copies stay stale,
// which is what makes the comparison mean something.
func TestChangedPatchesFusedViews(t *testing.T) {
	m := loadTiny(t, "phi3", "")
	dev := newCopyBackend()
	m.SetBackend(dev)
	ids := randomIDs(25, m.Config.Vocab, 41)
	logits := func() []float32 { return forwardLogits(t, m, ids) }
	onCPU := func() []float32 {
		m.SetBackend(backend.CPU())
		defer m.SetBackend(dev)
		return logits()
	}
	before := logits()
	uploads := dev.uploads
	// Two fused parameters, and one the layers use as it is.
	for _, name := range []string{"model.layers.1.self_attn.qkv_proj.weight", "model.layers.0.mlp.gate_up_proj.weight", "model.layers.1.mlp.down_proj.weight"} {
		i := m.ParamIndex(name)
		w := m.Params[i]
		if fused := !strings.Contains(name, "down_proj"); fused == (dev.copies[w] != nil) {
			t.Fatalf("%s: device copy %v: the layers were to compute with the views of a fused weight only", name, dev.copies[w] != nil)
		}
		// One element every fifth row: every view's rows are hit.
		var idx []int64
		for r := 0; r < w.Rows(); r += 5 {
			idx = append(idx, int64(r*w.Cols()+(r*7)%w.Cols()))
		}
		idx = append(idx, int64(w.Len()-1))
		old := make([]uint64, len(idx))
		edit := func() {
			for j, e := range idx {
				old[j] = w.Bits(int(e))
				w.Set(int(e), w.At(int(e))*-2+0.5)
			}
		}
		restore := func() {
			for j, e := range idx {
				w.SetBits(int(e), old[j])
			}
		}

		edit()
		if !slices.Equal(logits(), before) {
			t.Fatalf("%s: the stand-in device saw an edit without Changed: it keeps no copies", name)
		}
		resent := dev.resent
		if err := m.Changed(i, idx); err != nil {
			t.Fatal(err)
		}
		got := logits()
		if slices.Equal(got, before) || !slices.Equal(got, onCPU()) {
			t.Fatalf("%s: after Changed the device's logits are not the CPU's for the edited weights", name)
		}
		restore()
		if err := m.Changed(i, idx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(logits(), before) {
			t.Fatalf("%s: restored and Changed, the logits are not the original ones", name)
		}
		if n := dev.resent - resent; n != 2*len(idx) {
			t.Errorf("%s: %d elements re-sent for %d changed twice", name, n, len(idx))
		}
	}
	if dev.uploads != uploads || len(dev.invalidated) != 0 {
		t.Errorf("%d whole uploads and %d invalidations after the first pass, want none", dev.uploads-uploads, len(dev.invalidated))
	}

	// ReplaceParam builds new views over the new tensor; Changed finds
	// their offsets in it.
	i := m.ParamIndex("model.layers.0.self_attn.qkv_proj.weight")
	nt := m.Params[i].Convert(tensor.F32)
	if err := m.ReplaceParam(i, nt); err != nil {
		t.Fatal(err)
	}
	logits() // the new views' copies
	last := int64(nt.Len() - 1)
	nt.Set(int(last), nt.At(int(last))+4)
	if err := m.Changed(i, []int64{0, last}); err != nil {
		t.Fatal(err)
	}
	if got := logits(); slices.Equal(got, before) || !slices.Equal(got, onCPU()) {
		t.Error("after ReplaceParam: Changed did not reach the new views")
	}
}

// TestChangedFallsBack: a backend that cannot patch has its copies of the
// parameter and every view dropped, as by Invalidate; an element outside
// the parameter is an error that drops them too; no elements is no notice.
func TestChangedFallsBack(t *testing.T) {
	m := loadTiny(t, "phi3", "")
	rec := &recorder{Backend: backend.CPU()}
	m.SetBackend(rec)
	name := "model.layers.0.mlp.gate_up_proj.weight"
	i := m.ParamIndex(name)
	w := m.Params[i]
	if err := m.Changed(i, []int64{3}); err != nil {
		t.Fatal(err)
	}
	if len(rec.invalidated) != 3 || rec.invalidated[0] != w {
		t.Fatalf("%s without Patch: %d tensors invalidated, want it and its 2 views", name, len(rec.invalidated))
	}

	dev := newCopyBackend()
	m.SetBackend(dev)
	if err := m.Changed(i, nil); err != nil || len(dev.invalidated) != 0 || dev.resent != 0 {
		t.Errorf("no elements: %v, %d invalidated, %d re-sent", err, len(dev.invalidated), dev.resent)
	}
	err := m.Changed(i, []int64{0, int64(w.Len())})
	if err == nil || !strings.Contains(err.Error(), name) || len(dev.invalidated) != 3 || dev.resent != 0 {
		t.Errorf("element outside: %v, %d invalidated, %d re-sent", err, len(dev.invalidated), dev.resent)
	}
	if err := m.Changed(len(m.Params), []int64{0}); err == nil {
		t.Error("a parameter index outside accepted")
	}
}
