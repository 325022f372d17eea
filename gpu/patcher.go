package gpu

import "esa/stdlib/backend"

// A Device is a backend.Patcher, so that model.Model.Changed re-sends only
// the elements an ESA perturbation changed instead of dropping the whole
// device copy; this fails to compile if Device.Patch's signature drifts
// from the interface the model looks for.
var _ backend.Patcher = Device(nil)
