package model

import (
	"fmt"
	"math"
)

// CrossEntropy returns the summed negative log-likelihood of targets under
// softmax(logits) (T×V row-major), the number of rows counted (targets < 0
// are ignored) and dlogits = d(sumNLL)/d(logits), ready for Pass.Backward.
// Sums run in float64. It panics when len(logits) ≠ len(targets)·V or a
// target is ≥ V: those are programming errors, not data errors.
func CrossEntropy(logits []float32, V int, targets []int) (sumNLL float64, n int, dlogits []float32) {
	return crossEntropy(logits, V, targets)
}

func crossEntropy[T float32 | float64](logits []T, V int, targets []int) (sumNLL float64, n int, dlogits []T) {
	if V <= 0 || len(logits) != len(targets)*V {
		panic(fmt.Sprintf("model.CrossEntropy: %d logits for %d targets of vocabulary %d", len(logits), len(targets), V))
	}
	dlogits = make([]T, len(logits))
	for r, tgt := range targets {
		if tgt < 0 {
			continue
		}
		if tgt >= V {
			panic(fmt.Sprintf("model.CrossEntropy: target %d at row %d outside vocabulary of %d", tgt, r, V))
		}
		z := logits[r*V : (r+1)*V]
		mx := math.Inf(-1)
		for _, v := range z {
			mx = math.Max(mx, float64(v))
		}
		var se float64
		for _, v := range z {
			se += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(se)
		sumNLL += lse - float64(z[tgt])
		n++
		d := dlogits[r*V : (r+1)*V]
		for j, v := range z {
			d[j] = T(math.Exp(float64(v) - lse))
		}
		d[tgt]--
	}
	return sumNLL, n, dlogits
}
