package notebook

import (
	"os"
	"runtime/debug"
	"syscall"
)

// redirectFDs points file descriptors 1 and 2 at stdout and stderr while a
// cell runs, so that what compiled code writes to them directly (os.Stdout
// of the esa library, C libraries) lands in the cell's outputs like the
// interpreter's own output. restore puts the original descriptors back.
//
// Meanwhile the runtime's report of a fatal error (a panic in a goroutine
// the cell started) also goes to the original standard error: written only
// to descriptor 2, a pipe this process reads, it would die with the process.
func redirectFDs(stdout, stderr *os.File) (restore func(), err error) {
	saved1, err := syscall.Dup(1)
	if err != nil {
		return nil, err
	}
	saved2, err := syscall.Dup(2)
	if err != nil {
		syscall.Close(saved1)
		return nil, err
	}
	syscall.CloseOnExec(saved1)
	syscall.CloseOnExec(saved2)
	orig := os.NewFile(uintptr(saved2), "stderr")
	crash := debug.SetCrashOutput(orig, debug.CrashOptions{}) == nil // it keeps its own duplicate
	restore = func() {
		_ = syscall.Dup3(saved1, 1, 0)
		_ = syscall.Dup3(saved2, 2, 0)
		if crash {
			_ = debug.SetCrashOutput(nil, debug.CrashOptions{})
		}
		syscall.Close(saved1)
		orig.Close()
	}
	if err := syscall.Dup3(int(stdout.Fd()), 1, 0); err != nil {
		restore()
		return nil, err
	}
	if err := syscall.Dup3(int(stderr.Fd()), 2, 0); err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}
