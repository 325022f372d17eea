//go:build unix

package blas

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time of the whole process (all threads). At one
// thread it excludes time spent descheduled, the steadier measure on a shared
// machine.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
