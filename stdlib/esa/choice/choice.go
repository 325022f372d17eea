// Package choice holds the named choices of an ESA run (metrics, ranking
// modes, perturbations, controls, dtypes, devices) as typed constants, with
// parse functions whose errors list the valid values and the nearest match,
// and the one-line meaning of each choice from which the reference tables
// (`esa choices`) are generated.
//
// The names are the contract of the runbooks (esa-spec.md, "Choices"):
// change a name here and every runbook breaks.
package choice

import (
	"fmt"
	"strconv"
	"strings"
)

// Metric is a per-weight sensitivity score.
type Metric string

// The metrics of esa-spec.md.
const (
	GradXWeight    Metric = "grad_x_weight"
	GradSquared    Metric = "grad_squared"
	HessianDiag    Metric = "hessian_diag"
	HutchinsonDiag Metric = "hutchinson_diag"
	Magnitude      Metric = "magnitude"
	ActMag         Metric = "act_mag"
)

// Mode is how the top-k set is drawn from the scored tensors.
type Mode string

// Ranking modes.
const (
	PerLayer Mode = "per_layer"
	Global   Mode = "global"
)

// Perturbation is what is done to the selected weights.
type Perturbation string

// Perturbations.
const (
	Zero       Perturbation = "zero"
	SignFlip   Perturbation = "sign_flip"
	GaussNoise Perturbation = "gauss_noise"
	BitFlip    Perturbation = "bit_flip"
)

// Control is a comparison set perturbed like the top-k set.
type Control string

// Controls.
const (
	RandomK Control = "random_k"
	BottomK Control = "bottom_k"
)

// DType is the stored dtype the weights are converted to before analysis.
type DType string

// DTypes.
const (
	BF16 DType = "bf16"
	FP16 DType = "fp16"
	FP32 DType = "fp32"
)

// Device is where computation runs: "auto", "cpu", "cuda" or "cuda:N".
type Device string

// Devices (plus "cuda:N" for a given GPU, see ParseDevice).
const (
	Auto Device = "auto"
	CPU  Device = "cpu"
	CUDA Device = "cuda"
)

// Option is one valid value of a choice and its one-line meaning.
type Option struct {
	Name    string
	Meaning string
}

// Kind describes one choice: its flag, the valid options in order, accepted
// aliases (which parse to a valid option) and suggestion-only aliases (which
// are rejected but name the option the user probably meant).
type Kind struct {
	Name    string // "metric"
	Flag    string // "--metric"
	Title   string // table heading
	Options []Option
	// Accepted maps an alias to the option it stands for; it parses.
	Accepted map[string]string
	// Suggest maps common wrong names to the option meant; they do not parse.
	Suggest map[string]string
	// Note is printed under the table (may be empty).
	Note string
}

// metricKind, modeKind, ... describe each choice; they are the single source of the
// names, the meanings and the nearest-match hints.
var (
	metricKind = Kind{
		Name: "metric", Flag: "--metric", Title: "Metrics (score per weight, ≥ 0)",
		Options: []Option{
			{string(GradXWeight), "|g ⊙ w|: first-order Taylor estimate of the loss change from zeroing w (g = gradient of the mean token loss over the calibration set)"},
			{string(GradSquared), "Σ_s g_s²: squared per-sequence gradients summed over calibration sequences (empirical Fisher diagonal)"},
			{string(HessianDiag), "true Fisher diagonal: squared gradients with labels sampled from the model's own predictions, Monte-Carlo (expected Hessian of the loss)"},
			{string(HutchinsonDiag), "|E_z[z ⊙ Hz]|: Hutchinson estimate of the loss Hessian diagonal with seeded Rademacher probes z (default 10)"},
			{string(Magnitude), "|w|: weight magnitude (needs no data)"},
			{string(ActMag), "Wanda score |w_ij|·‖X_j‖₂, X_j the j-th input feature over all calibration tokens (embeddings: √count of the token)"},
		},
		Suggest: map[string]string{
			"activation_magnitude": "act_mag", "activation_mag": "act_mag", "act_magnitude": "act_mag",
			"activation": "act_mag", "activations": "act_mag", "wanda": "act_mag", "actmag": "act_mag",
			"taylor": "grad_x_weight", "grad_weight": "grad_x_weight", "gradxweight": "grad_x_weight",
			"gradient_x_weight": "grad_x_weight", "grad_times_weight": "grad_x_weight", "saliency": "grad_x_weight",
			"grad_sq": "grad_squared", "gradient_squared": "grad_squared", "grad2": "grad_squared",
			"empirical_fisher": "grad_squared", "sq_grad": "grad_squared",
			"fisher": "hessian_diag", "true_fisher": "hessian_diag", "hessian": "hessian_diag",
			"hess_diag": "hessian_diag", "fisher_diag": "hessian_diag",
			"hutchinson": "hutchinson_diag", "hutch": "hutchinson_diag",
			"weight_magnitude": "magnitude", "abs": "magnitude", "mag": "magnitude", "weight": "magnitude",
		},
	}
	modeKind = Kind{
		Name: "mode", Flag: "--mode", Title: "Ranking modes",
		Options: []Option{
			{string(PerLayer), "top-k within each scored tensor (k × number of tensors in total)"},
			{string(Global), "top-k over all scored weights; ties go to the earlier tensor, then the lower flat index"},
		},
		Suggest: map[string]string{
			"layer": "per_layer", "layerwise": "per_layer", "per_tensor": "per_layer", "local": "per_layer",
			"tensor": "per_layer", "perlayer": "per_layer", "all": "global", "whole_model": "global", "model": "global",
		},
	}
	perturbationKind = Kind{
		Name: "perturbation", Flag: "--perturb", Title: "Perturbations (s = --perturb-scale, p = --perturb-prob)",
		Options: []Option{
			{string(Zero), "w ← 0"},
			{string(SignFlip), "w ← −s·w (s = 1: pure sign flip)"},
			{string(GaussNoise), "w ← w + s·|w|·N(0,1): relative Gaussian noise, seeded"},
			{string(BitFlip), "with probability p flip one bit of the stored fp32/bf16/fp16 value (default the most significant exponent bit), seeded"},
		},
		Suggest: map[string]string{
			"gaussian": "gauss_noise", "gauss": "gauss_noise", "noise": "gauss_noise", "gaussian_noise": "gauss_noise",
			"normal": "gauss_noise", "zeros": "zero", "zeroing": "zero", "ablate": "zero", "prune": "zero",
			"sign": "sign_flip", "negate": "sign_flip", "flip_sign": "sign_flip", "signflip": "sign_flip",
			"bitflip": "bit_flip", "bit": "bit_flip", "flip_bit": "bit_flip", "bits": "bit_flip",
		},
		Note: "Every perturbation touches exactly the selected weights and is undone bit for bit afterwards (checked by checksum).",
	}
	controlKind = Kind{
		Name: "control", Flag: "--controls", Title: "Controls (comma list)",
		Options: []Option{
			{string(RandomK), "same count as the top-k set, uniformly random over the same universe (per tensor in per_layer mode), from the seed"},
			{string(BottomK), "the lowest-scoring weights, same mode and same count as the top-k set"},
		},
		Accepted: map[string]string{"random": "random_k", "bottom": "bottom_k"},
		Suggest: map[string]string{
			"rand": "random_k", "randomk": "random_k", "bottomk": "bottom_k", "lowest": "bottom_k", "least": "bottom_k",
		},
		Note: "Aliases accepted: random = random_k, bottom = bottom_k. The top-k set itself is always perturbed.",
	}
	dtypeKind = Kind{
		Name: "dtype", Flag: "--dtype", Title: "Stored dtypes",
		Options: []Option{
			{string(BF16), "bfloat16: 8 exponent bits, 7 mantissa bits (top exponent bit flip ×2¹²⁸)"},
			{string(FP16), "IEEE binary16: 5 exponent bits, 10 mantissa bits (top exponent bit flip ×2¹⁶)"},
			{string(FP32), "IEEE binary32: 8 exponent bits, 23 mantissa bits"},
		},
		Suggest: map[string]string{
			"float32": "fp32", "f32": "fp32", "float": "fp32", "single": "fp32",
			"bfloat16": "bf16", "bfloat": "bf16", "float16": "fp16", "half": "fp16", "f16": "fp16",
		},
		Note: "Weights are converted to this dtype before analysis (default: the checkpoint's own dtype); bit flips act on it.",
	}
	deviceKind = Kind{
		Name: "device", Flag: "--device", Title: "Devices",
		Options: []Option{
			{string(Auto), "a GPU if this binary and machine have one, else the CPU"},
			{string(CPU), "the CPU"},
			{string(CUDA), "the first CUDA GPU (an error where the binary or machine has none)"},
			{"cuda:N", "CUDA GPU number N (0-based)"},
		},
		Suggest: map[string]string{"gpu": "cuda", "nvidia": "cuda", "host": "cpu", "cpu:0": "cpu", "gpu:0": "cuda:0"},
	}
)

// Kinds lists every choice in the order of the reference tables.
func Kinds() []Kind {
	return []Kind{metricKind, modeKind, perturbationKind, controlKind, dtypeKind, deviceKind}
}

// Names lists the valid option names of k.
func (k Kind) Names() []string {
	out := make([]string, len(k.Options))
	for i, o := range k.Options {
		out[i] = o.Name
	}
	return out
}

// Meaning is the one-line meaning of option name ("" if not an option).
func (k Kind) Meaning(name string) string {
	for _, o := range k.Options {
		if o.Name == name {
			return o.Meaning
		}
	}
	return ""
}

// Error is a rejected choice value.
type Error struct {
	Kind       string   // "metric"
	Value      string   // what was given
	Valid      []string // the valid values
	Suggestion string   // the nearest valid value, "" if none is close
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Value == "" {
		fmt.Fprintf(&b, "empty %s", e.Kind)
	} else {
		fmt.Fprintf(&b, "unknown %s %q", e.Kind, e.Value)
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, ": did you mean %s?", e.Suggestion)
	}
	fmt.Fprintf(&b, " (valid: %s)", strings.Join(e.Valid, ", "))
	return b.String()
}

// parse resolves s to an option name of k, exactly or through an accepted alias.
func (k Kind) parse(s string) (string, error) {
	for _, o := range k.Options {
		if s == o.Name {
			return s, nil
		}
	}
	if a, ok := k.Accepted[s]; ok {
		return a, nil
	}
	return "", &Error{Kind: k.Name, Value: s, Valid: k.Names(), Suggestion: k.Nearest(s)}
}

// ParseMetric accepts exactly the names of metricKind.
func ParseMetric(s string) (Metric, error) {
	v, err := metricKind.parse(s)
	return Metric(v), err
}

// ParseMode accepts per_layer or global.
func ParseMode(s string) (Mode, error) {
	v, err := modeKind.parse(s)
	return Mode(v), err
}

// ParsePerturbation accepts zero, sign_flip, gauss_noise or bit_flip.
func ParsePerturbation(s string) (Perturbation, error) {
	v, err := perturbationKind.parse(s)
	return Perturbation(v), err
}

// ParseControl accepts random_k, bottom_k and the aliases random, bottom.
func ParseControl(s string) (Control, error) {
	v, err := controlKind.parse(s)
	return Control(v), err
}

// ParseControls parses a comma list ("random_k,bottom_k"); repeats are
// dropped, order is kept, and an empty element is an error.
func ParseControls(s string) ([]Control, error) {
	var out []Control
	for _, part := range strings.Split(s, ",") {
		c, err := ParseControl(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			dup = dup || o == c
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out, nil
}

// ParseDType accepts bf16, fp16 or fp32.
func ParseDType(s string) (DType, error) {
	v, err := dtypeKind.parse(s)
	return DType(v), err
}

// ParseDevice accepts auto, cpu, cuda and cuda:N (N a non-negative integer).
// Whether the device exists is decided later, when the run resolves it.
func ParseDevice(s string) (Device, error) {
	switch s {
	case string(Auto), string(CPU), string(CUDA):
		return Device(s), nil
	}
	if n, ok := strings.CutPrefix(s, "cuda:"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && strconv.Itoa(i) == n {
			return Device(s), nil
		}
		return "", &Error{Kind: "device", Value: s, Valid: deviceKind.Names(), Suggestion: "cuda:0"}
	}
	return "", &Error{Kind: "device", Value: s, Valid: deviceKind.Names(), Suggestion: deviceKind.Nearest(s)}
}

// GPU is the CUDA ordinal of a cuda or cuda:N device, -1 for auto and cpu.
func (d Device) GPU() int {
	if d == CUDA {
		return 0
	}
	if n, ok := strings.CutPrefix(string(d), "cuda:"); ok {
		if i, err := strconv.Atoi(n); err == nil {
			return i
		}
	}
	return -1
}

// Meaning is the one-line meaning of the metric.
func (m Metric) Meaning() string { return metricKind.Meaning(string(m)) }

// Meaning is the one-line meaning of the mode.
func (m Mode) Meaning() string { return modeKind.Meaning(string(m)) }

// Meaning is the one-line meaning of the perturbation.
func (p Perturbation) Meaning() string { return perturbationKind.Meaning(string(p)) }

// Meaning is the one-line meaning of the control.
func (c Control) Meaning() string { return controlKind.Meaning(string(c)) }

// NeedsData says whether the metric reads calibration data.
func (m Metric) NeedsData() bool { return m != Magnitude }

// Random says whether the metric itself draws random numbers from the seed
// (probes or sampled labels), beyond the calibration resample.
func (m Metric) Random() bool { return m == HessianDiag || m == HutchinsonDiag }

// Metrics lists every metric in table order.
func Metrics() []Metric {
	out := make([]Metric, 0, len(metricKind.Options))
	for _, o := range metricKind.Options {
		out = append(out, Metric(o.Name))
	}
	return out
}

// Perturbations lists every perturbation in table order.
func Perturbations() []Perturbation {
	out := make([]Perturbation, 0, len(perturbationKind.Options))
	for _, o := range perturbationKind.Options {
		out = append(out, Perturbation(o.Name))
	}
	return out
}
