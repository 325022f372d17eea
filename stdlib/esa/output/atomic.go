// Package output writes the files of an ESA run: every file atomically
// (temp file in the same folder, fsync, rename), JSON that survives the
// infinite and NaN numbers a destroyed model produces, CSV tables, the
// default run folder name, and the build/hardware facts of the manifest.
package output

import (
	"fmt"
	"os"
	"path/filepath"

	"esa/internal/atomicfile"
)

// WriteFile writes data to path atomically: a reader sees the old file or
// the complete new one, never a half-written file, even if the run dies.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("output: writing %s: %w", path, err)
	}
	return nil
}
