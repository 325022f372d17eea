package backend

import "esa/stdlib/tensor"

// Patcher is implemented by backends that keep device copies of weights and
// can bring a few elements of one up to date without re-sending the rest.
// After the caller changed elements idx (flat, row-major offsets) of t in
// place, Patch re-sends just those from t's host bytes to the copy: O(k)
// work where Invalidate would make the next use upload the whole tensor —
// gigabytes per ESA perturbation of a large model, for a few weights. A
// backend holding no copy of t has nothing to do. An index outside t is an
// error. model.Model.Changed uses it when the backend offers it and falls
// back to Invalidate otherwise; the CPU backends keep no copies and need
// neither.
type Patcher interface {
	Patch(t *tensor.Tensor, idx []int64) error
}
