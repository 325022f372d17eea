//go:build !linux

package notebook

import "os"

// redirectFDs is a no-op off Linux: only the interpreter's own output is
// captured there; what compiled code writes to descriptors 1 and 2 goes to
// the terminal.
func redirectFDs(stdout, stderr *os.File) (restore func(), err error) { return func() {}, nil }
