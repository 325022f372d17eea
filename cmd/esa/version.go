package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

func init() {
	register("version", "print the esa version, Go version and VCS revision", func([]string) int {
		rev := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
		fmt.Printf("esa %s (%s, %s/%s, commit %s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, rev)
		return 0
	})
}

// Version is the release of the esa binary.
const Version = "0.1.0"
