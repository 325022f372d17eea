// Package progress is the one interface long operations report through: a
// terminal bar in the CLI, an updating display in notebooks, nothing in tests.
package progress

// Reporter receives progress of a long operation. Phase names what is running
// ("evaluate", "sensitivity grad_x_weight", "perturb zero seed 1"); done counts
// up to total (total 0 = unknown). Implementations must be cheap and safe for
// concurrent use.
type Reporter interface {
	Progress(phase string, done, total int)
}

// Nop discards progress.
type Nop struct{}

// Progress implements Reporter.
func (Nop) Progress(string, int, int) {}

// Or returns r, or Nop when r is nil, so callers never check for nil.
func Or(r Reporter) Reporter {
	if r == nil {
		return Nop{}
	}
	return r
}
