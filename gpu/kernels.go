package gpu

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

// ptxFS holds the PTX that kernels/gen.sh generates from kernels/*.cu.
//
//go:embed kernels/*.ptx
var ptxFS embed.FS

// kernelSpec is one kernel entry point: the PTX module (file name without
// .ptx) that holds it, its name, and its parameters, one letter each: p a
// device pointer, i an integer (long long), f a float64. Every parameter is
// 8 bytes wide, which is what gorgonia.org/cu's Launch passes.
type kernelSpec struct {
	module, name, params string
}

// Kernel indices into kernelSpecs.
const (
	kAdd = iota
	kToF32
	kToBF16
	kSwiGLU
	kSwiGLUBackward
	kEmbedding
	kEmbeddingBackward
	kRMSNorm
	kRMSNormBackwardDX
	kRMSNormBackwardDW
	kRope
	kAttention
	kAttentionBackwardDQ
	kAttentionBackwardDKV
	kCrossEntropy
	kSgemm
	kSelectHist
	kSelectGatherAbove
	kSelectCountEq
	kSelectGatherEq
	kFlipBits
	kPatch
	kChecksum
	kLayerNorm
	kLayerNormBackwardDX
	kLayerNormBackwardDWB
	kAddBias
	kBiasBackward
	kGELU
	kGELUBackward
	kSplitQKV
	kMergeQKV
	kGatherRows
	kScatterAddRows
	kRowDots
	numKernels
)

// kernelSpecs must agree with the kernels' C signatures; kernels_test.go
// checks names, counts and float-vs-integer kinds against the PTX.
var kernelSpecs = [numKernels]kernelSpec{
	kAdd:                  {"elementwise", "esa_add", "ppi"},
	kToF32:                {"elementwise", "esa_to_f32", "ppii"},
	kToBF16:               {"elementwise", "esa_to_bf16", "ppi"},
	kSwiGLU:               {"elementwise", "esa_swiglu", "pppi"},
	kSwiGLUBackward:       {"elementwise", "esa_swiglu_backward", "pppppi"},
	kEmbedding:            {"elementwise", "esa_embedding", "ppipii"},
	kEmbeddingBackward:    {"elementwise", "esa_embedding_backward", "pppii"},
	kRMSNorm:              {"norm", "esa_rmsnorm", "ppppiif"},
	kRMSNormBackwardDX:    {"norm", "esa_rmsnorm_backward_dx", "pppppii"},
	kRMSNormBackwardDW:    {"norm", "esa_rmsnorm_backward_dw", "ppppii"},
	kRope:                 {"rope", "esa_rope", "pppiiiiii"},
	kAttention:            {"attention", "esa_attention", "ppppppiiiiiif"},
	kAttentionBackwardDQ:  {"attention", "esa_attention_backward_dq", "pppppppiiiiif"},
	kAttentionBackwardDKV: {"attention", "esa_attention_backward_dkv", "ppppppppiiiiif"},
	kCrossEntropy:         {"loss", "esa_cross_entropy", "ppppi"},
	kSgemm:                {"gemm", "esa_sgemm", "iiiiifpipifpi"},
	kSelectHist:           {"select", "esa_select_hist", "ppppiiiiiiii"},
	kSelectGatherAbove:    {"select", "esa_select_gather_above", "pppppiiiiiii"},
	kSelectCountEq:        {"select", "esa_select_count_eq", "pppiiiiii"},
	kSelectGatherEq:       {"select", "esa_select_gather_eq", "pppppiiiiiiiii"},
	kFlipBits:             {"perturb", "esa_flip_bits", "pippi"},
	kPatch:                {"perturb", "esa_patch", "pippi"},
	kChecksum:             {"perturb", "esa_checksum", "ppi"},
	kLayerNorm:            {"neox", "esa_layernorm", "pppppipiif"},
	kLayerNormBackwardDX:  {"neox", "esa_layernorm_backward_dx", "ppppppii"},
	kLayerNormBackwardDWB: {"neox", "esa_layernorm_backward_dwb", "ppppppii"},
	kAddBias:              {"neox", "esa_add_bias", "ppiii"},
	kBiasBackward:         {"neox", "esa_bias_backward", "ppii"},
	kGELU:                 {"neox", "esa_gelu", "ppi"},
	kGELUBackward:         {"neox", "esa_gelu_backward", "pppi"},
	kSplitQKV:             {"rows", "esa_split_qkv", "ppppii"},
	kMergeQKV:             {"rows", "esa_merge_qkv", "ppppii"},
	kGatherRows:           {"rows", "esa_gather_rows", "ppppii"},
	kScatterAddRows:       {"rows", "esa_scatter_add_rows", "ppppii"},
	kRowDots:              {"rows", "esa_row_dots", "ppppi"},
}

// Attention kernel limits (attention.cu: ATT_MAXD, ATT_WARPS).
const (
	attMaxHeadDim = 256
	attThreads    = 128
)

// ptxModules returns the embedded PTX texts by module name.
func ptxModules() (map[string]string, error) {
	entries, err := ptxFS.ReadDir("kernels")
	if err != nil {
		return nil, err
	}
	mods := map[string]string{}
	for _, e := range entries {
		b, err := ptxFS.ReadFile("kernels/" + e.Name())
		if err != nil {
			return nil, err
		}
		mods[strings.TrimSuffix(e.Name(), ".ptx")] = string(b)
	}
	return mods, nil
}

var (
	entryRE = regexp.MustCompile(`(?s)\.visible \.entry (\w+)\(\s*(.*?)\)`)
	paramRE = regexp.MustCompile(`\.param \.(\w+) `)
)

// ptxEntries lists the kernel entry points of a PTX text with the PTX type
// of each parameter (u64, f64, ...).
func ptxEntries(ptx string) map[string][]string {
	out := map[string][]string{}
	for _, m := range entryRE.FindAllStringSubmatch(ptx, -1) {
		var types []string
		for _, p := range paramRE.FindAllStringSubmatch(m[2], -1) {
			types = append(types, p[1])
		}
		out[m[1]] = types
	}
	return out
}

// checkSpec reports how a kernel's PTX parameters disagree with its spec.
func checkSpec(s kernelSpec, types []string) error {
	if len(types) != len(s.params) {
		return fmt.Errorf("kernel %s: PTX has %d parameters, spec %q has %d", s.name, len(types), s.params, len(s.params))
	}
	for i, ty := range types {
		want := "u64"
		if s.params[i] == 'f' {
			want = "f64"
		}
		if ty != want {
			return fmt.Errorf("kernel %s: parameter %d is .%s in the PTX, spec %q says .%s", s.name, i, ty, s.params, want)
		}
	}
	return nil
}
