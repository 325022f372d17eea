// Package testmodels finds the shared test checkpoints for tests.
//
// Tests reach the models through $ESA_TEST_MODELS (default: ../shared/models
// beside the repository root). When they are absent a test skips with a
// message, unless $ESA_REQUIRE_TEST_MODELS=1 (CI), where absence fails.
package testmodels

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the models folder, or skips (fails under ESA_REQUIRE_TEST_MODELS=1).
func Dir(t testing.TB) string {
	t.Helper()
	if d := find(); d != "" {
		return d
	}
	msg := "test models not found: set ESA_TEST_MODELS or place them in ../shared/models beside the repository"
	if os.Getenv("ESA_REQUIRE_TEST_MODELS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Path returns Dir(t)/rel, e.g. Path(t, "stories260K/stories260K.bin").
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("ESA_REQUIRE_TEST_MODELS") == "1" {
			t.Fatalf("test model file missing: %v", err)
		}
		t.Skipf("test model file missing: %v", err)
	}
	return p
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func find() string {
	if d := os.Getenv("ESA_TEST_MODELS"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	root := RepoRoot()
	if root == "" {
		return ""
	}
	d := filepath.Join(root, "..", "shared", "models")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	return ""
}
