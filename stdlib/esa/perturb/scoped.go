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
func With(ctx context.Context, targets []Target, spec Spec, fn func(ctx context.Context) error) (Result, error) {
	return WithNotify(ctx, targets, spec, nil, fn)
}

// Notify is told which weights a scoped perturbation changed in place:
// changed[j] is targets[j]'s tensor with the offsets whose stored bits
// differ (ascending; possibly none). It is called once after the change,
// before fn runs, and once after the restore with the same offsets, then
// back to their original bits. A backend keeping copies of the weights (a
// GPU) re-sends just those elements each time.
type Notify func(changed []Target) error

// WithNotify is With, telling notify (when not nil) of the change and of
// the restore. The restore is reported whatever happens, like the restore
// itself; an error of notify after the change skips fn (the weights are
// restored and that is reported too), and one after the restore is
// returned unless an earlier error is.
func WithNotify(ctx context.Context, targets []Target, spec Spec, notify Notify, fn func(ctx context.Context) error) (res Result, err error) {
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
		if notify != nil {
			if nerr := notify(u.Touched()); nerr != nil && err == nil {
				err = nerr
			}
		}
		if after := Checksum(targets); after != before {
			err = fmt.Errorf("perturb: model not restored bit for bit after %s (checksum %016x, was %016x)", spec.Kind, after, before)
		}
	}()
	if notify != nil {
		if err = notify(u.Touched()); err != nil {
			return res, err
		}
	}
	if err = fn(ctx); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// Changer hears of in-place changes of a model's parameters:
// model.Model's Changed.
type Changer interface {
	Changed(i int, idx []int64) error
}

// ReportTo is the Notify that tells m, for every target j, that the
// changed offsets of parameter params[j] (the index of targets[j]'s tensor
// in the model) changed, so that a device backend re-sends O(k) elements
// rather than the tensors holding them.
func ReportTo(m Changer, params []int) Notify {
	return func(changed []Target) error {
		if len(changed) != len(params) {
			return fmt.Errorf("perturb: %d targets changed, %d parameter indices to report them under", len(changed), len(params))
		}
		for j, t := range changed {
			if len(t.Flat) == 0 {
				continue
			}
			if err := m.Changed(params[j], t.Flat); err != nil {
				return err
			}
		}
		return nil
	}
}
