package train

import (
	"math"
	"testing"
)

// On f(x) = Σ (x_i - c_i)², AdamW without decay must converge to c; this
// checks the update's sign, bias correction and moment bookkeeping.
func TestAdamWMinimisesQuadratic(t *testing.T) {
	c := []float32{3, -2, 0.5, 10}
	x := make([]float32, len(c))
	g := make([]float32, len(c))
	o := NewAdamW(0.1)
	o.WeightDecay = 0
	for step := 0; step < 3000; step++ {
		for i := range x {
			g[i] = 2 * (x[i] - c[i])
		}
		o.Step([][]float32{x}, [][]float32{g}, []bool{false}, CosineLR(0.1, step, 10, 3000, 0.01))
	}
	for i := range x {
		if math.Abs(float64(x[i]-c[i])) > 1e-2 {
			t.Fatalf("x[%d] = %v, want %v", i, x[i], c[i])
		}
	}
}

func TestCosineLR(t *testing.T) {
	if got := CosineLR(1, 0, 10, 100, 0.1); math.Abs(got-0.1) > 1e-12 {
		t.Fatalf("warmup start %v", got)
	}
	if got := CosineLR(1, 10, 10, 100, 0.1); math.Abs(got-1) > 1e-12 {
		t.Fatalf("peak %v", got)
	}
	if got := CosineLR(1, 100, 10, 100, 0.1); math.Abs(got-0.1) > 1e-12 {
		t.Fatalf("end %v", got)
	}
}
