package output

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDir is outputs/{model}_{metric}_{mode}_k{k}[_{perturb}]_{timestamp}
// (esa-spec.md, "Outputs"). model is the base name of the model path with
// anything but letters, digits, '.', '-' and '_' replaced by '_'; the
// timestamp is local time as 20060102-150405.
func DefaultDir(model, metric, mode string, k int, perturb string, at time.Time) string {
	name := fmt.Sprintf("%s_%s_%s_k%d", ModelName(model), metric, mode, k)
	if perturb != "" {
		name += "_" + perturb
	}
	return filepath.Join("outputs", name+"_"+at.Format("20060102-150405"))
}

// ModelName is the short name of a model path for folder names and titles:
// the last path element without a checkpoint extension.
func ModelName(path string) string {
	base := filepath.Base(strings.TrimRight(path, `/\`))
	for _, ext := range []string{".safetensors", ".bin", ".gguf", ".pt"} {
		base = strings.TrimSuffix(base, ext)
	}
	out := []byte(base)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			out[i] = '_'
		}
	}
	if len(out) == 0 || base == "." {
		return "model"
	}
	return string(out)
}
