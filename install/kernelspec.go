// Package install writes and removes the esa Jupyter kernelspec: kernel.json
// with the absolute path of the esa binary and interrupt_mode "message",
// plus the logos in this directory (regenerate them with
// `go run install/gen_logos.go install`).
package install

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

//go:generate go run gen_logos.go .

//go:embed logo-32x32.png
var logo32 []byte

//go:embed logo-64x64.png
var logo64 []byte

// Spec is the content of kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// NewSpec returns the kernelspec for the binary at exe (made absolute).
func NewSpec(exe, displayName string) (Spec, error) {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Argv:          []string{abs, "kernel", "--connection-file", "{connection_file}"},
		DisplayName:   displayName,
		Language:      "go",
		InterruptMode: "message",
	}, nil
}

// Write installs spec as kernels/<name> under dataDir (a Jupyter data
// directory such as ~/.local/share/jupyter or PREFIX/share/jupyter) and
// returns the kernel's directory.
func Write(dataDir, name string, spec Spec) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("invalid kernel name %q", name)
	}
	dir := filepath.Join(dataDir, "kernels", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", err
	}
	for file, data := range map[string][]byte{"kernel.json": append(b, '\n'), "logo-32x32.png": logo32, "logo-64x64.png": logo64} {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Remove deletes kernels/<name> under dataDir; it reports whether it existed.
func Remove(dataDir, name string) (bool, error) {
	dir := filepath.Join(dataDir, "kernels", name)
	if _, err := os.Stat(filepath.Join(dir, "kernel.json")); err != nil {
		return false, nil
	}
	return true, os.RemoveAll(dir)
}

// UserDataDir is Jupyter's per-user data directory.
func UserDataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return d, nil
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jupyter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// PrefixDataDir is the data directory of an installation prefix.
func PrefixDataDir(prefix string) string { return filepath.Join(prefix, "share", "jupyter") }
