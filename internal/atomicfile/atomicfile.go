// Package atomicfile writes a file so that readers see the old file or the
// complete new one, never a half-written one: a temporary file in the same
// folder, fsync, mode 0644, rename.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data atomically. The folder must exist.
func Write(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; what we write is not secret.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
