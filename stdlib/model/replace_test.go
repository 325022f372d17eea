package model_test

import (
	"slices"
	"strings"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// TestReplaceParam swaps every parameter of every family (the tiny
// checkpoints, and stories260K's shape with its tied embedding/head) for a
// changed copy, alternately in bf16 and float32, and checks that the model
// then computes exactly what a model built by New with that tensor does:
// the same logits and gradients bit for bit, different logits from before
// (so every use — projections, norms, Phi-3's row views, the tied head —
// follows the swap). The backend is told to drop the old tensor, its views
// and any stale copy of the new one, and the new views alias the new
// tensor's rows. Putting the original back restores the logits bit for bit.
func TestReplaceParam(t *testing.T) {
	type tc struct {
		name string
		m    *model.Model
	}
	cases := []tc{{"stories260K-shape (tied)", randomModel(t, storiesConfig(), tensor.F32, 61)}}
	for _, dir := range []string{"llama3", "mistral", "phi3", "mixtral", "gpt_neox"} {
		cases = append(cases, tc{dir, loadTiny(t, dir, "")})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			rec := &recorder{Backend: backend.CPU()}
			m.SetBackend(rec)
			ids := randomIDs(13, m.Config.Vocab, 62)
			before := forwardLogits(t, m, ids)
			orig := slices.Clone(m.Params)
			for i, old := range orig {
				dt := tensor.BF16
				if i%2 == 1 {
					dt = tensor.F32
				}
				nt := changed(old, dt)
				rec.invalidated = nil
				if err := m.ReplaceParam(i, nt); err != nil {
					t.Fatal(err)
				}
				if m.Params[i] != nt {
					t.Fatalf("%s: Params[%d] is not the new tensor", old.Name, i)
				}
				checkInvalidated(t, rec.invalidated, old, nt)

				ps := slices.Clone(orig)
				ps[i] = nt
				ref, err := model.New(m.Config, ps)
				if err != nil {
					t.Fatal(err)
				}
				got, want := forwardLogits(t, m, ids), forwardLogits(t, ref, ids)
				if !slices.Equal(got, want) {
					t.Fatalf("%s (%s): logits differ from a model built with the new tensor", old.Name, dt)
				}
				if slices.Equal(got, before) {
					t.Fatalf("%s (%s): replacing the parameter did not change the logits", old.Name, dt)
				}
				g, gr := m.NewGrads(), ref.NewGrads()
				if _, _, err := m.LossAndGrad(ids, g); err != nil {
					t.Fatal(err)
				}
				if _, _, err := ref.LossAndGrad(ids, gr); err != nil {
					t.Fatal(err)
				}
				for p := range g.G {
					if !slices.Equal(g.G[p], gr.G[p]) {
						t.Fatalf("%s (%s): gradient of %s differs from a model built with the new tensor", old.Name, dt, m.Params[p].Name)
					}
				}

				if err := m.ReplaceParam(i, old); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(forwardLogits(t, m, ids), before) {
					t.Fatalf("%s: putting the original back did not restore the logits bit for bit", old.Name)
				}
			}
		})
	}
}

// changed is 1.25·w + 0.01 stored in dt: every element moves, so every
// parameter's replacement changes the logits.
func changed(w *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	out := tensor.New(w.Name, dt, w.Shape...)
	for j := 0; j < w.Len(); j++ {
		out.Set(j, 1.25*w.At(j)+0.01)
	}
	return out
}

// checkInvalidated checks what ReplaceParam told the backend: the old tensor
// and its row views, then the new tensor and its views, which must be the
// same row blocks, now of the new tensor's bytes. Phi-3's fused qkv_proj has
// three views, gate_up_proj two, other parameters none.
func checkInvalidated(t *testing.T, inv []*tensor.Tensor, old, nt *tensor.Tensor) {
	t.Helper()
	views := 0
	switch {
	case strings.HasSuffix(old.Name, "qkv_proj.weight"):
		views = 3
	case strings.HasSuffix(old.Name, "gate_up_proj.weight"):
		views = 2
	}
	if len(inv) != 2*(1+views) || inv[0] != old || inv[1+views] != nt {
		t.Fatalf("%s: invalidated %d tensors, want the old tensor, its %d views, the new one and its %d views", old.Name, len(inv), views, views)
	}
	for k, w := range []*tensor.Tensor{old, nt} {
		rows := 0
		for _, v := range inv[k*(1+views)+1 : (k+1)*(1+views)] {
			if off := int(uintptrDiff(v.Data, w.Data)); off != rows*w.Cols()*w.DType.Size() || v.Cols() != w.Cols() || v.DType != w.DType {
				t.Fatalf("%s: view at byte %d (%s %v) is not the next row block of the %s tensor", old.Name, off, v.DType, v.Shape, w.DType)
			}
			rows += v.Rows()
		}
		if views > 0 && rows != w.Rows() {
			t.Fatalf("%s: views cover %d of %d rows", old.Name, rows, w.Rows())
		}
	}
}

func forwardLogits(t *testing.T, m *model.Model, ids []int) []float32 {
	t.Helper()
	p, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	return slices.Clone(p.Logits)
}

// TestReplaceParamErrors: a replacement must be the same parameter (name,
// shape) in a dtype the model runs; a refused one leaves the model as it was.
func TestReplaceParamErrors(t *testing.T) {
	cfg := storiesConfig()
	m := randomModel(t, cfg, tensor.F32, 63)
	i := m.ParamIndex("model.layers.0.mlp.down_proj.weight")
	w := m.Params[i]
	short := w.Convert(tensor.BF16)
	short.Data = short.Data[:len(short.Data)-2]
	odd := &tensor.Tensor{Name: w.Name, Shape: w.Shape, DType: tensor.DType(9), Data: make([]byte, w.Len())} // no dtype the model runs
	for _, tc := range []struct {
		i    int
		t    *tensor.Tensor
		want []string
	}{
		{-1, w, []string{"index -1", "parameters"}},
		{len(m.Params), w, []string{"outside"}},
		{i, nil, []string{"nil tensor", w.Name}},
		{i, m.Params[i+1], []string{"cannot replace", w.Name}},
		{i, tensor.New(w.Name, tensor.F32, w.Shape[1], w.Shape[0]), []string{"shape", w.Name}},
		{i, odd, []string{"dtype", "valid: F32, BF16, F16, F64"}},
		{i, short, []string{"bytes", w.Name}},
	} {
		wantErr(t, m.ReplaceParam(tc.i, tc.t), tc.want...)
		if m.Params[i] != w {
			t.Fatal("a refused ReplaceParam changed the parameter")
		}
	}
}
