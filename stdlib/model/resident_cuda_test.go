//go:build cuda

package model_test

import (
	"math"
	"testing"

	"esa/gpu"
	"esa/stdlib/tensor"
)

// TestResidentGradsCUDA: on the CUDA backend, resident gradients (uploaded
// once, zeroed and accumulated on the device, downloaded at Sync) equal the
// default path's, which copies them in and out per pass, and Zero clears
// the device copies.
func TestResidentGradsCUDA(t *testing.T) {
	dev, err := gpu.New(0)
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	defer dev.Close()
	cfg := storiesConfig()
	cfg.Layers = 2
	m := randomModel(t, cfg, tensor.F32, 11)
	m.SetBackend(dev)
	var seqs [][]int
	for k := range 3 {
		seqs = append(seqs, randomIDs(9+3*k, cfg.Vocab, uint64(20+k)))
	}
	def, res := m.NewGrads(), m.NewGrads()
	res.Resident(true)
	lossAndGrad(t, m, seqs[2], res) // cleared by Zero below
	res.Zero()
	for _, ids := range seqs {
		lossAndGrad(t, m, ids, def)
		lossAndGrad(t, m, ids, res)
	}
	if !allZero(res) {
		t.Fatal("G changed before Sync: the passes did not accumulate on the device")
	}
	res.Sync()
	worst, same := 0.0, true
	for i := range def.G {
		var scale float64
		for _, v := range def.G[i] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for j, v := range def.G[i] {
			if math.Float32bits(v) != math.Float32bits(res.G[i][j]) {
				same = false
			}
			if scale > 0 {
				worst = math.Max(worst, math.Abs(float64(v-res.G[i][j]))/scale)
			}
		}
	}
	t.Logf("resident vs default on %s: bit-identical %v, worst difference %.3g of a tensor's largest gradient", dev.Name(), same, worst)
	// The same kernels run on the same inputs; only where the gradient
	// buffers came from differs, so anything beyond float32 rounding of a
	// reordered sum is a bug.
	if worst > 1e-6 {
		t.Errorf("resident gradients differ from the default path's by %.3g", worst)
	}
}
