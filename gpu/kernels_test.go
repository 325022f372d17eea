package gpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"esa/stdlib/tensor"
)

// TestKernelSpecsMatchPTX: every kernel the Go code launches exists in the
// embedded PTX with the parameters its spec lists (count, and float64 vs
// 8-byte integer/pointer), and every PTX entry point has a spec. A mismatch
// would make the driver read garbage arguments on a GPU.
func TestKernelSpecsMatchPTX(t *testing.T) {
	mods, err := ptxModules()
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no embedded PTX")
	}
	specified := map[string]bool{}
	for _, s := range kernelSpecs {
		if s.name == "" {
			t.Fatal("kernelSpecs has an empty entry")
		}
		specified[s.name] = true
		ptx, ok := mods[s.module]
		if !ok {
			t.Errorf("kernel %s: no kernels/%s.ptx", s.name, s.module)
			continue
		}
		types, ok := ptxEntries(ptx)[s.name]
		if !ok {
			t.Errorf("kernel %s: not an entry of kernels/%s.ptx", s.name, s.module)
			continue
		}
		if err := checkSpec(s, types); err != nil {
			t.Error(err)
		}
	}
	var names []string
	for m, ptx := range mods {
		for name := range ptxEntries(ptx) {
			if !specified[name] {
				t.Errorf("kernels/%s.ptx: entry %s has no spec in kernels.go", m, name)
			}
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) != len(kernelSpecs) {
		t.Errorf("PTX has %d entries %v, kernels.go specifies %d", len(names), names, len(kernelSpecs))
	}
}

// TestCheckSpecCatchesMismatch: the spec checker itself rejects a wrong
// count and a float passed where an integer is expected.
func TestCheckSpecCatchesMismatch(t *testing.T) {
	s := kernelSpec{"m", "k", "pif"}
	if err := checkSpec(s, []string{"u64", "u64", "f64"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"u64", "u64"}, {"u64", "f64", "f64"}, {"u64", "u32", "f64"}} {
		if checkSpec(s, bad) == nil {
			t.Errorf("checkSpec accepted %v for %q", bad, s.params)
		}
	}
}

// TestKernelDTypeCodes: the kernels number dtypes as package tensor does
// (esa.cuh: DT_F32 = 0, DT_BF16 = 1, DT_F16 = 2, DT_F64 = 3).
func TestKernelDTypeCodes(t *testing.T) {
	if tensor.F32 != 0 || tensor.BF16 != 1 || tensor.F16 != 2 || tensor.F64 != 3 {
		t.Fatal("tensor.DType numbering changed: update DT_* in gpu/kernels/esa.cuh")
	}
}

// TestPTXIsFresh regenerates the PTX with clang and compares it with the
// committed files (skipped where clang-14 is not installed).
func TestPTXIsFresh(t *testing.T) {
	clang := os.Getenv("CLANG")
	if clang == "" {
		clang = "clang-14"
	}
	if _, err := exec.LookPath(clang); err != nil {
		t.Skipf("%s not installed: cannot regenerate the PTX (apt-get install clang-14)", clang)
	}
	out, err := exec.Command("bash", filepath.Join("kernels", "gen.sh"), "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("kernels/gen.sh --check: %v\n%s", err, out)
	}
}
