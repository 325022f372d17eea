//go:build !race

package session

// yaegi's ExecuteWithContext, when interrupted, returns while its goroutine
// may still assign the (then unused) results: a data race in yaegi that is
// harmless, but that the race detector reports. Race-detector builds
// therefore evaluate cells with EvalWithContext, which compiles in its own
// goroutine and is slower but clean; other builds compile separately.
const (
	compileSeparately = true
	// cellGoroutine names the function of the goroutine yaegi runs a cell in.
	cellGoroutine = "interp.(*Interpreter).ExecuteWithContext.func1("
)

// haltGoroutine names the function of the goroutine Session.halt starts.
const haltGoroutine = "interp.(*Interpreter).EvalWithContext.func1("
