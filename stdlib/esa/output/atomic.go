// Package output writes the files of an ESA run: every file atomically
// (temp file in the same folder, fsync, rename), JSON that survives the
// infinite and NaN numbers a destroyed model produces, CSV tables, the
// default run folder name, and the build/hardware facts of the manifest.
package output

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: a reader sees the old file or
// the complete new one, never a half-written file, even if the run dies.
func WriteFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("output: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("output: syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("output: closing %s: %w", path, err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}
