// Package esa is Extreme Sensitivity Analysis of language models: score
// every weight (six metrics), rank the top-k, perturb it against random and
// bottom controls, and report statistics across seeds — the same calls for
// notebooks and for `esa runner` (esa-spec.md is the definition).
package esa

import "esa/stdlib/esa/choice"

// The choice types and constants live in package choice (so the ranking,
// perturbation and metric packages share them); these aliases are the names
// users see: esa.GradXWeight, esa.PerLayer, esa.BitFlip, …
type (
	Metric       = choice.Metric
	Mode         = choice.Mode
	Perturbation = choice.Perturbation
	Control      = choice.Control
	DType        = choice.DType
	Device       = choice.Device
)

// Metrics.
const (
	GradXWeight    = choice.GradXWeight
	GradSquared    = choice.GradSquared
	HessianDiag    = choice.HessianDiag
	HutchinsonDiag = choice.HutchinsonDiag
	Magnitude      = choice.Magnitude
	ActMag         = choice.ActMag
)

// Ranking modes.
const (
	PerLayer = choice.PerLayer
	Global   = choice.Global
)

// Perturbations.
const (
	Zero       = choice.Zero
	SignFlip   = choice.SignFlip
	GaussNoise = choice.GaussNoise
	BitFlip    = choice.BitFlip
)

// Controls.
const (
	RandomK = choice.RandomK
	BottomK = choice.BottomK
)

// Stored dtypes.
const (
	BF16 = choice.BF16
	FP16 = choice.FP16
	FP32 = choice.FP32
)

// Devices.
const (
	Auto = choice.Auto
	CPU  = choice.CPU
	CUDA = choice.CUDA
)

// ParseMetric and the other parse functions accept exactly the spec's names;
// their errors list the valid values and the nearest match.
func ParseMetric(s string) (Metric, error) { return choice.ParseMetric(s) }

// ParseMode accepts per_layer or global.
func ParseMode(s string) (Mode, error) { return choice.ParseMode(s) }

// ParsePerturbation accepts zero, sign_flip, gauss_noise or bit_flip.
func ParsePerturbation(s string) (Perturbation, error) { return choice.ParsePerturbation(s) }

// ParseControls accepts a comma list of random_k, bottom_k (aliases random, bottom).
func ParseControls(s string) ([]Control, error) { return choice.ParseControls(s) }

// ParseDType accepts bf16, fp16 or fp32.
func ParseDType(s string) (DType, error) { return choice.ParseDType(s) }

// ParseDevice accepts auto, cpu, cuda or cuda:N.
func ParseDevice(s string) (Device, error) { return choice.ParseDevice(s) }
