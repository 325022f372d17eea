// Package perturb damages exactly the selected weights of a model in their
// stored dtype (zero, sign_flip, gauss_noise, bit_flip) and undoes it bit for
// bit. Only the original bits of the touched weights are saved, never a copy
// of the model, and every restore is verified by a checksum of the touched
// tensors taken before the change (esa-spec.md, "Perturbations").
package perturb

import (
	"fmt"
	"math"
	"slices"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/rng"
	"esa/stdlib/tensor"
)

// BitMode chooses which bit bit_flip flips.
type BitMode int

const (
	// TopExponent flips the most significant exponent bit (fp32 and bf16
	// bit 30/14, fp16 bit 14): the bit flip attacks use. The zero value.
	TopExponent BitMode = iota
	// GivenBit flips Spec.BitIndex (0 = least significant mantissa bit).
	GivenBit
	// RandomBit flips a bit drawn uniformly from the stored width.
	RandomBit
)

func (m BitMode) String() string {
	switch m {
	case TopExponent:
		return "top_exponent"
	case GivenBit:
		return "index"
	case RandomBit:
		return "random"
	}
	return fmt.Sprintf("BitMode(%d)", int(m))
}

// Spec is one perturbation.
type Spec struct {
	Kind     choice.Perturbation
	Scale    float64 // s of sign_flip (w ← −s·w) and gauss_noise (w ← w + s·|w|·N(0,1))
	Prob     float64 // p of bit_flip: each selected weight is flipped with probability p
	Bit      BitMode // bit_flip: which bit
	BitIndex int     // bit_flip with GivenBit
	Seed     uint64  // drives gauss_noise and bit_flip
}

// DefaultSpec is kind with scale 1 and probability 1 (a pure sign flip,
// noise as large as the weight, every selected weight bit-flipped at the top
// exponent bit).
func DefaultSpec(kind choice.Perturbation) Spec {
	return Spec{Kind: kind, Scale: 1, Prob: 1}
}

// Validate checks the parameters that apply to the kind.
func (s Spec) Validate() error {
	switch s.Kind {
	case choice.Zero:
	case choice.SignFlip, choice.GaussNoise:
		if math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) {
			return fmt.Errorf("perturb: %s scale must be finite, got %v", s.Kind, s.Scale)
		}
	case choice.BitFlip:
		if !(s.Prob >= 0 && s.Prob <= 1) {
			return fmt.Errorf("perturb: bit_flip probability must be in [0, 1], got %v", s.Prob)
		}
		if s.Bit < TopExponent || s.Bit > RandomBit {
			return fmt.Errorf("perturb: unknown bit mode %d", int(s.Bit))
		}
	default:
		_, err := choice.ParsePerturbation(string(s.Kind))
		return err
	}
	return nil
}

// Target is a tensor and the flat offsets of its selected weights.
type Target struct {
	T    *tensor.Tensor
	Flat []int64
}

// TopExponentBit is the most significant exponent bit of a stored dtype.
func TopExponentBit(dt tensor.DType) int {
	switch dt {
	case tensor.F32:
		return 30
	case tensor.BF16, tensor.F16:
		return 14
	case tensor.F64:
		return 62
	}
	return -1
}

// Undo holds the original bits of every touched weight.
type Undo struct {
	targets []Target
	orig    [][]uint64
	touched []Target // per target, the offsets whose stored bits Apply changed
	// Changed counts weights whose stored bits differ after Apply; Flipped
	// counts bit flips done (bit_flip only).
	Changed, Flipped int
}

// Apply perturbs every target weight as spec says and returns what undoes it.
// Targets are processed in the given order and each target's offsets in
// ascending order, so the random draws depend only on the set and the seed.
// Nothing is changed when an error is returned.
func Apply(targets []Target, spec Spec) (*Undo, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	sorted := make([]Target, len(targets))
	for i, t := range targets {
		if t.T == nil {
			return nil, fmt.Errorf("perturb: target %d has no tensor", i)
		}
		width := 8 * t.T.DType.Size()
		if width == 0 || TopExponentBit(t.T.DType) < 0 {
			return nil, fmt.Errorf("perturb: %s has unsupported dtype %s", t.T.Name, t.T.DType)
		}
		if spec.Kind == choice.BitFlip && spec.Bit == GivenBit && (spec.BitIndex < 0 || spec.BitIndex >= width) {
			return nil, fmt.Errorf("perturb: bit index %d outside the %d bits of %s (%s)", spec.BitIndex, width, t.T.Name, t.T.DType)
		}
		f := slices.Clone(t.Flat)
		slices.Sort(f)
		n := int64(t.T.Len())
		for j, x := range f {
			if x < 0 || x >= n {
				return nil, fmt.Errorf("perturb: index %d outside %s (%d elements)", x, t.T.Name, n)
			}
			if j > 0 && f[j-1] == x {
				return nil, fmt.Errorf("perturb: index %d of %s selected twice", x, t.T.Name)
			}
		}
		sorted[i] = Target{t.T, f}
	}

	u := &Undo{targets: sorted, orig: make([][]uint64, len(sorted))}
	for i, t := range sorted {
		u.orig[i] = make([]uint64, len(t.Flat))
		for j, x := range t.Flat {
			u.orig[i][j] = t.T.Bits(int(x))
		}
	}
	noise := rng.New(spec.Seed, "gauss_noise")
	flips := rng.New(spec.Seed, "bit_flip")
	for _, t := range sorted {
		width := 8 * t.T.DType.Size()
		for _, x := range t.Flat {
			i := int(x)
			switch spec.Kind {
			case choice.Zero:
				// +0 whatever the sign: a zeroed weight contributes nothing.
				t.T.SetBits(i, 0)
			case choice.SignFlip:
				t.T.Set(i, -spec.Scale*t.T.At(i))
			case choice.GaussNoise:
				w := t.T.At(i)
				t.T.Set(i, w+spec.Scale*math.Abs(w)*noise.NormFloat64())
			case choice.BitFlip:
				// One uniform draw decides whether this weight flips and,
				// for RandomBit, a second draw which bit: draws are taken
				// for every weight so that p does not shift the stream.
				hit := flips.Float64() < spec.Prob
				bit := TopExponentBit(t.T.DType)
				switch spec.Bit {
				case GivenBit:
					bit = spec.BitIndex
				case RandomBit:
					bit = flips.IntN(width)
				}
				if hit {
					t.T.SetBits(i, t.T.Bits(i)^(1<<uint(bit)))
					u.Flipped++
				}
			}
		}
	}
	u.touched = make([]Target, len(sorted))
	for i, t := range sorted {
		u.touched[i].T = t.T
		for j, x := range t.Flat {
			if t.T.Bits(int(x)) != u.orig[i][j] {
				u.touched[i].Flat = append(u.touched[i].Flat, x)
			}
		}
		u.Changed += len(u.touched[i].Flat)
	}
	return u, nil
}

// Touched lists, for each target in Apply's order, the offsets (ascending)
// whose stored bits Apply changed — Changed of them in all, possibly none
// for a target — and so the bits Restore writes back: what a backend
// keeping a copy of the tensors must re-send after either. The lists are
// the Undo's own: read them, do not change them.
func (u *Undo) Touched() []Target {
	return u.touched
}

// Restore writes every saved original bit pattern back. It is idempotent.
func (u *Undo) Restore() {
	for i, t := range u.targets {
		for j, x := range t.Flat {
			t.T.SetBits(int(x), u.orig[i][j])
		}
	}
}

// Count is the number of selected weights.
func (u *Undo) Count() int {
	n := 0
	for _, t := range u.targets {
		n += len(t.Flat)
	}
	return n
}
