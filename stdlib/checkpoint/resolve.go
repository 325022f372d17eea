package checkpoint

import (
	"esa/stdlib/builtin"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// hubID matches a Hugging Face Hub model id: "name" or "org/name", with an
// optional "@revision" (a branch, tag or commit hash present in the cache).
var hubID = regexp.MustCompile(`^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*(?:@[A-Za-z0-9._/-]+)?$`)

// HubCacheDirs lists the Hugging Face hub cache folders searched, in order:
// $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
// ~/.cache/huggingface/hub (the same precedence huggingface_hub uses).
func HubCacheDirs() []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	add(os.Getenv("HF_HUB_CACHE"))
	if h := os.Getenv("HF_HOME"); h != "" {
		add(filepath.Join(h, "hub"))
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		add(filepath.Join(x, "huggingface", "hub"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".cache", "huggingface", "hub"))
	}
	return dirs
}

// ResolveHub finds the snapshot folder of a Hub model id in the local cache,
// without network access: models--org--name/snapshots/<commit>, where the
// commit is the one refs/<revision> names (revision "main" unless the id ends
// in "@rev"), or, without refs, the only or the most recently modified
// snapshot. The error lists every folder searched.
func ResolveHub(id string) (string, error) {
	if !hubID.MatchString(id) {
		return "", fmt.Errorf("%q is not a Hugging Face model id (org/name)", id)
	}
	name, rev, hasRev := strings.Cut(id, "@")
	if !hasRev {
		rev = "main"
	}
	repo := "models--" + strings.ReplaceAll(name, "/", "--")
	var looked []string
	for _, cache := range HubCacheDirs() {
		root := filepath.Join(cache, repo)
		looked = append(looked, root)
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			continue
		}
		snaps := filepath.Join(root, "snapshots")
		if b, err := os.ReadFile(filepath.Join(root, "refs", filepath.FromSlash(rev))); err == nil {
			commit := strings.TrimSpace(string(b))
			dir := filepath.Join(snaps, commit)
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				return dir, nil
			}
			return "", fmt.Errorf("hub cache %s: refs/%s names snapshot %s, which is not in %s (incomplete download?)", root, rev, commit, snaps)
		}
		if hasRev { // a commit hash given directly
			dir := filepath.Join(snaps, rev)
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				return dir, nil
			}
			return "", fmt.Errorf("hub cache %s: revision %q is neither a ref nor a snapshot", root, rev)
		}
		ents, err := os.ReadDir(snaps)
		if err != nil {
			return "", fmt.Errorf("hub cache %s has no snapshots folder", root)
		}
		best, bestTime := "", int64(0)
		for _, e := range ents {
			p := filepath.Join(snaps, e.Name())
			st, err := os.Stat(p)
			if err != nil || !st.IsDir() {
				continue
			}
			if t := st.ModTime().UnixNano(); best == "" || t > bestTime {
				best, bestTime = p, t
			}
		}
		if best == "" {
			return "", fmt.Errorf("hub cache %s has no snapshots", root)
		}
		return best, nil
	}
	return "", fmt.Errorf("model %q is not in the local Hugging Face cache (looked in %s); there is no network access here: download it elsewhere with `huggingface-cli download %s` and copy the cache, or pass a local directory",
		name, strings.Join(looked, ", "), name)
}

// Kind of checkpoint a path names.
const (
	KindHFDir   = "hf"      // a Hugging Face model folder
	KindLlama2C = "llama2c" // a llama2.c .bin file
)

// Resolve classifies a --model argument: an existing folder (Hugging Face),
// an existing file (llama2.c .bin; a config.json or .safetensors file means its
// folder), or otherwise a Hub id looked up in the local cache.
func Resolve(path string) (kind, resolved string, err error) {
	if path == "" || path == builtin.Name {
		// No model named: the built-in default model, so everything runs offline.
		dir, err := builtin.Dir()
		if err != nil {
			return "", "", err
		}
		return KindHFDir, dir, nil
	}
	st, statErr := os.Stat(path)
	switch {
	case statErr == nil && st.IsDir():
		return KindHFDir, path, nil
	case statErr == nil:
		base := filepath.Base(path)
		if base == "config.json" || strings.HasSuffix(base, ".safetensors") || base == "model.safetensors.index.json" {
			return KindHFDir, filepath.Dir(path), nil
		}
		return KindLlama2C, path, nil
	}
	// Not on disk: a Hub id, unless it looks like a path.
	if strings.HasPrefix(path, ".") || strings.HasPrefix(path, "/") || strings.HasSuffix(path, ".bin") || !hubID.MatchString(path) {
		return "", "", fmt.Errorf("model %s: %v", path, statErr)
	}
	dir, err := ResolveHub(path)
	if err != nil {
		return "", "", fmt.Errorf("model %s is not a file or folder here, and as a Hub id: %v", path, err)
	}
	return KindHFDir, dir, nil
}
