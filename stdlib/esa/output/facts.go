package output

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Build is what the binary knows about its own build. It holds no
// environment variables: those can carry access tokens (a defect of the old
// tool's manifest).
type Build struct {
	GoVersion   string            `json:"go_version"`
	Module      string            `json:"module"`
	Version     string            `json:"module_version"`
	GitCommit   string            `json:"git_commit"` // "unknown" when the binary was built without VCS stamping (go test, go run)
	GitModified bool              `json:"git_modified"`
	CommitTime  string            `json:"commit_time,omitempty"`
	Deps        map[string]string `json:"dependencies"`
	OS          string            `json:"os"`
	Arch        string            `json:"arch"`
}

// BuildInfo reads the build facts from debug.ReadBuildInfo.
func BuildInfo() Build {
	b := Build{GoVersion: runtime.Version(), GitCommit: "unknown", OS: runtime.GOOS, Arch: runtime.GOARCH, Deps: map[string]string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module, b.Version = bi.Main.Path, bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.GitCommit = s.Value
		case "vcs.modified":
			b.GitModified = s.Value == "true"
		case "vcs.time":
			b.CommitTime = s.Value
		}
	}
	for _, d := range bi.Deps {
		// Only the libraries whose numbers shape results or files.
		if strings.HasPrefix(d.Path, "gonum.org/") || strings.HasPrefix(d.Path, "github.com/traefik/yaegi") {
			b.Deps[d.Path] = d.Version
		}
	}
	return b
}

// Hardware describes the machine a run used.
type Hardware struct {
	CPUModel    string `json:"cpu_model"`
	LogicalCPUs int    `json:"logical_cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	MemoryBytes uint64 `json:"memory_bytes"` // physical memory, 0 if unknown
}

// HardwareInfo reads the CPU model and memory from /proc on Linux; the
// fields stay empty elsewhere.
func HardwareInfo() Hardware {
	h := Hardware{LogicalCPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	h.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseUint(strings.Fields(kb)[0], 10, 64); err == nil {
			h.MemoryBytes = n * 1024
		}
	}
	return h
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
