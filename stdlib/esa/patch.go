package esa

import (
	"context"

	"esa/stdlib/esa/perturb"
	"esa/stdlib/model"
)

// perturbModel is perturb.With on weights of m, params[j] being the index
// in m.Params of targets[j]'s tensor. Only the weights the perturbation
// changes are reported to m (model.Changed), once changed and once
// restored, so a device backend re-sends O(k) elements each time instead of
// re-uploading every touched tensor (gigabytes per perturbation of a large
// model). Should anything fail, the touched parameters' copies are dropped
// as well: a failed restore check means the host bytes changed in ways the
// reports do not cover, and m stays in use after an error (notebooks).
func perturbModel(ctx context.Context, m *model.Model, targets []perturb.Target, params []int, spec perturb.Spec, fn func(ctx context.Context) error) (perturb.Result, error) {
	res, err := perturb.WithNotify(ctx, targets, spec, perturb.ReportTo(m, params), fn)
	if err != nil {
		for _, p := range params {
			m.Invalidate(p)
		}
	}
	return res, err
}
