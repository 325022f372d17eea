package perturb

import (
	"context"
	"fmt"
	"hash/maphash"

	"esa/stdlib/tensor"
)

// Result says what a scoped perturbation did.
type Result struct {
	Selected int    // weights in the target set
	Changed  int    // weights whose stored bits the perturbation changed
	Flipped  int    // bit flips done (bit_flip)
	Checksum uint64 // checksum of the touched tensors before and after
}

// checksumSeed is fixed for the process: checksums are only compared within
// one run, and maphash is an order of magnitude faster than FNV on the
// gigabytes a large model's touched tensors hold.
var checksumSeed = maphash.MakeSeed()

// Checksum hashes the stored bytes of every distinct tensor in targets.
func Checksum(targets []Target) uint64 {
	var h maphash.Hash
	h.SetSeed(checksumSeed)
	seen := map[*tensor.Tensor]bool{}
	for _, t := range targets {
		if t.T == nil || seen[t.T] {
			continue
		}
		seen[t.T] = true
		h.WriteString(t.T.Name)
		h.Write(t.T.Data)
	}
	return h.Sum64()
}

// With applies spec to targets, runs fn on the perturbed model, and restores
// the original bits whatever happens: fn returning, failing, panicking, or
// ctx being cancelled. After restoring it checks that the touched tensors
// hash to the checksum taken before the change, and returns an error if not.
// A panic in fn is re-raised after the restore.
func With(ctx context.Context, targets []Target, spec Spec, fn func(ctx context.Context) error) (res Result, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	before := Checksum(targets)
	u, err := Apply(targets, spec)
	if err != nil {
		return res, err
	}
	res = Result{Selected: u.Count(), Changed: u.Changed, Flipped: u.Flipped, Checksum: before}
	defer func() {
		u.Restore()
		if after := Checksum(targets); after != before {
			err = fmt.Errorf("perturb: model not restored bit for bit after %s (checksum %016x, was %016x)", spec.Kind, after, before)
		}
	}()
	if err = fn(ctx); err != nil {
		return res, err
	}
	return res, ctx.Err()
}
