package backend

import (
	"math/rand/v2"
	"testing"
)

// TestAttentionSavedDefault: a backend that is no AttentionSaver saves the
// probabilities, so AttentionSavedLen is heads·tq·tk and AttentionProbs is
// its Attention.
func TestAttentionSavedDefault(t *testing.T) {
	be := CPU()
	if _, ok := be.(AttentionSaver); ok {
		t.Fatal("the CPU backend implements AttentionSaver; this test needs one that does not")
	}
	heads, kvHeads, hd, tq, tk, window := 2, 1, 4, 3, 5, 0
	if n := AttentionSavedLen(be, heads, tq, tk); n != heads*tq*tk {
		t.Errorf("AttentionSavedLen = %d, want %d", n, heads*tq*tk)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(n int) Buffer {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return be.FromHost(v)
	}
	q, k, v := buf(tq*heads*hd), buf(tk*kvHeads*hd), buf(tk*kvHeads*hd)
	out1, out2 := be.Alloc(tq*heads*hd), be.Alloc(tq*heads*hd)
	p1, p2 := be.Alloc(heads*tq*tk), be.Alloc(heads*tq*tk)
	be.Attention(out1, p1, q, k, v, tq, tk, heads, kvHeads, hd, window)
	AttentionProbs(be, out2, p2, q, k, v, tq, tk, heads, kvHeads, hd, window)
	for _, c := range [][2]Buffer{{out1, out2}, {p1, p2}} {
		a, b := make([]float32, c[0].Len()), make([]float32, c[1].Len())
		be.Download(a, c[0])
		be.Download(b, c[1])
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("AttentionProbs differs from Attention at %d: %g, %g", i, b[i], a[i])
			}
		}
	}
	var rowSum float32
	probs := make([]float32, tk)
	be.Download(probs, p2) // head 0, row 0: position tk−tq sees keys 0…tk−tq
	for _, p := range probs {
		rowSum += p
	}
	if rowSum < 0.999 || rowSum > 1.001 {
		t.Errorf("AttentionProbs row 0 sums to %g, not 1", rowSum)
	}
}
