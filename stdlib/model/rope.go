package model

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"esa/stdlib/backend"
)

// ropeTypes are the rope_scaling types the frequencies below implement.
var ropeTypes = []string{"default", "linear", "llama3"}

// invFreq returns the rotary inverse frequencies θ^(−2i/d), i < d/2, over
// the d = rotaryDim rotated dims of a head (GPT-NeoX's partial rotary
// included), with rope_scaling applied as Hugging Face's modeling_rope_utils
// does. Computed
// in float64 (HF computes them in float32; the difference is below float32
// rounding of the angles for the positions tested).
func invFreq(c Config) ([]float64, error) {
	d := rotaryDim(c)
	f := make([]float64, d/2)
	for i := range f {
		f[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(d))
	}
	if c.RopeScaling == nil {
		return f, nil
	}
	typ, _ := c.RopeScaling["rope_type"].(string)
	if typ == "" {
		typ, _ = c.RopeScaling["type"].(string)
	}
	// Values come from JSON, decoded as float64 or json.Number.
	num := func(key string) (float64, error) {
		switch v := c.RopeScaling[key].(type) {
		case float64:
			return v, nil
		case int:
			return float64(v), nil
		case json.Number:
			if f, err := v.Float64(); err == nil {
				return f, nil
			}
		}
		return 0, fmt.Errorf("rope_scaling %q needs a number %q", typ, key)
	}
	switch strings.ToLower(typ) {
	case "default", "":
		return f, nil
	case "linear":
		factor, err := num("factor")
		if err != nil {
			return nil, err
		}
		for i := range f {
			f[i] /= factor
		}
		return f, nil
	case "llama3":
		factor, err := num("factor")
		if err != nil {
			return nil, err
		}
		low, err := num("low_freq_factor")
		if err != nil {
			return nil, err
		}
		high, err := num("high_freq_factor")
		if err != nil {
			return nil, err
		}
		old := float64(c.OriginalMaxSeqLen)
		if v, e := num("original_max_position_embeddings"); e == nil {
			old = v
		}
		if old <= 0 {
			return nil, fmt.Errorf("rope_scaling llama3 needs original_max_position_embeddings")
		}
		lowWave, highWave := old/low, old/high
		for i, inv := range f {
			wave := 2 * math.Pi / inv
			switch {
			case wave < highWave:
			case wave > lowWave:
				f[i] = inv / factor
			default:
				s := (old/wave - low) / (high - low)
				f[i] = (1-s)*inv/factor + s*inv
			}
		}
		return f, nil
	}
	valid := append([]string(nil), ropeTypes...)
	sort.Strings(valid)
	return nil, fmt.Errorf("rope_scaling type %q is not supported (valid: %s)", typ, strings.Join(valid, ", "))
}

// ropeTable holds cos and sin of position·invFreq for positions [0, n) on
// one backend, [n, rotaryDim/2] each.
type ropeTable struct {
	n        int
	cos, sin backend.Buffer
}

// newRopeTable computes the angles in float64 and hands the backend values
// rounded once to its precision.
func newRopeTable(be backend.Backend, inv []float64, n int) *ropeTable {
	half := len(inv)
	c := make([]float64, n*half)
	s := make([]float64, n*half)
	for p := 0; p < n; p++ {
		for i, f := range inv {
			a := float64(p) * f
			c[p*half+i], s[p*half+i] = math.Cos(a), math.Sin(a)
		}
	}
	t := &ropeTable{n: n, cos: be.Alloc(n * half), sin: be.Alloc(n * half)}
	if h, ok := be.(backend.Host64); ok {
		h.Upload64(t.cos, c)
		h.Upload64(t.sin, s)
		return t
	}
	c32, s32 := make([]float32, len(c)), make([]float32, len(s))
	for i := range c {
		c32[i], s32[i] = float32(c[i]), float32(s[i])
	}
	be.Upload(t.cos, c32)
	be.Upload(t.sin, s32)
	return t
}
