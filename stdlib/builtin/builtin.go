// Package builtin embeds the default model: a small Llama trained by
// `esa train` on the project's own generated stories (stdlib/corpus), so that
// every command and notebook runs offline on a fresh machine.
//
// Recipe (reproduces model/ byte for byte with this engine on the same CPU
// architecture; a change to the engine's arithmetic order needs a retrain):
//
//	esa train --out stdlib/builtin/model --seed 1
//
// with the defaults of train.DefaultOptions. model/RECIPE.md records what that
// run printed (parameters, time, held-out perplexity, greedy sample).
package builtin

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Name is what --model accepts for the built-in model (and what an empty
// --model means).
const Name = "builtin"

//go:embed model/config.json model/model.safetensors model/tokenizer.json model/tokenizer_config.json
var files embed.FS

// Dir returns a folder holding the built-in model as a Hugging Face checkpoint,
// so it loads through the same code as any other. The files are extracted once
// into the user cache (~/.cache/esa/builtin-<hash>) and reused.
func Dir() (string, error) {
	h := sha256.New()
	names := []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
	for _, n := range names {
		b, err := files.ReadFile("model/" + n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "esa", "builtin-"+sum)
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	// Extract into a temporary sibling, then rename: concurrent first uses
	// never see a half-written folder.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("built-in model: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".builtin-tmp")
	if err != nil {
		return "", fmt.Errorf("built-in model: %v", err)
	}
	for _, n := range names {
		b, _ := fs.ReadFile(files, "model/"+n)
		if err := os.WriteFile(filepath.Join(tmp, n), b, 0o644); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("built-in model: %v", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dir, "model.safetensors")); statErr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("built-in model: %v", err)
	}
	return dir, nil
}
