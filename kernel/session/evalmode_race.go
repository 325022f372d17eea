//go:build race

package session

// See evalmode.go.
const (
	compileSeparately = false
	cellGoroutine     = "interp.(*Interpreter).EvalWithContext.func1("
)

// haltGoroutine names the function of the goroutine Session.halt starts.
const haltGoroutine = "interp.(*Interpreter).EvalWithContext.func1("
