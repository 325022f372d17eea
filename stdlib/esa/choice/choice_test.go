package choice

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	for _, m := range Metrics() {
		if got, err := ParseMetric(string(m)); err != nil || got != m {
			t.Errorf("ParseMetric(%q) = %q, %v", m, got, err)
		}
	}
	for _, p := range Perturbations() {
		if got, err := ParsePerturbation(string(p)); err != nil || got != p {
			t.Errorf("ParsePerturbation(%q) = %q, %v", p, got, err)
		}
	}
	if m, err := ParseMode("global"); err != nil || m != Global {
		t.Errorf("ParseMode(global) = %q, %v", m, err)
	}
	if d, err := ParseDType("bf16"); err != nil || d != BF16 {
		t.Errorf("ParseDType(bf16) = %q, %v", d, err)
	}
	cs, err := ParseControls("random_k,bottom_k")
	if err != nil || len(cs) != 2 || cs[0] != RandomK || cs[1] != BottomK {
		t.Errorf("ParseControls = %v, %v", cs, err)
	}
	// The aliases the spec names parse; repeats collapse.
	cs, err = ParseControls("bottom, random,random_k")
	if err != nil || len(cs) != 2 || cs[0] != BottomK || cs[1] != RandomK {
		t.Errorf("ParseControls aliases = %v, %v", cs, err)
	}
	for _, s := range []string{"auto", "cpu", "cuda", "cuda:0", "cuda:13"} {
		if d, err := ParseDevice(s); err != nil || string(d) != s {
			t.Errorf("ParseDevice(%q) = %q, %v", s, d, err)
		}
	}
	if g := Device("cuda:3").GPU(); g != 3 {
		t.Errorf("cuda:3 GPU = %d", g)
	}
	if g := CUDA.GPU(); g != 0 {
		t.Errorf("cuda GPU = %d", g)
	}
	if g := CPU.GPU(); g != -1 {
		t.Errorf("cpu GPU = %d", g)
	}
}

func TestParseInvalidSuggests(t *testing.T) {
	cases := []struct {
		parse      func(string) error
		in, want   string
		validShown string
	}{
		{func(s string) error { _, e := ParseMetric(s); return e }, "activation_magnitude", "act_mag", "grad_x_weight, grad_squared, hessian_diag, hutchinson_diag, magnitude, act_mag"},
		{func(s string) error { _, e := ParsePerturbation(s); return e }, "gaussian", "gauss_noise", "zero, sign_flip, gauss_noise, bit_flip"},
		{func(s string) error { _, e := ParseMetric(s); return e }, "grad_x_wieght", "grad_x_weight", ""}, // transposition
		{func(s string) error { _, e := ParseMetric(s); return e }, "hutch_diag", "hutchinson_diag", ""},  // edit distance / prefix
		{func(s string) error { _, e := ParseMetric(s); return e }, "Act-Mag", "act_mag", ""},             // case and separators
		{func(s string) error { _, e := ParseMetric(s); return e }, "hutchinson", "hutchinson_diag", ""},
		{func(s string) error { _, e := ParseMode(s); return e }, "perlayer", "per_layer", "per_layer, global"},
		{func(s string) error { _, e := ParseMode(s); return e }, "glob", "global", ""},
		{func(s string) error { _, e := ParsePerturbation(s); return e }, "noise", "gauss_noise", ""},
		{func(s string) error { _, e := ParsePerturbation(s); return e }, "bitflip", "bit_flip", ""},
		{func(s string) error { _, e := ParseControls(s); return e }, "random_k,botom_k", "bottom_k", "random_k, bottom_k"},
		{func(s string) error { _, e := ParseDType(s); return e }, "bfloat16", "bf16", "bf16, fp16, fp32"},
		{func(s string) error { _, e := ParseDType(s); return e }, "float32", "fp32", ""},
		{func(s string) error { _, e := ParseDevice(s); return e }, "gpu", "cuda", "auto, cpu, cuda, cuda:N"},
		{func(s string) error { _, e := ParseDevice(s); return e }, "cuda:x", "cuda:0", ""},
	}
	for _, c := range cases {
		err := c.parse(c.in)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a *choice.Error", c.in, err)
			continue
		}
		if ce.Suggestion != c.want {
			t.Errorf("%q: suggestion %q, want %q (%v)", c.in, ce.Suggestion, c.want, err)
		}
		if !strings.Contains(err.Error(), "did you mean "+c.want+"?") {
			t.Errorf("%q: message lacks the suggestion: %v", c.in, err)
		}
		if c.validShown != "" && !strings.Contains(err.Error(), "(valid: "+c.validShown+")") {
			t.Errorf("%q: message lacks the valid list: %v", c.in, err)
		}
	}
}

func TestNoSuggestionForUnrelated(t *testing.T) {
	_, err := ParseMetric("banana_split")
	var ce *Error
	if !errors.As(err, &ce) || ce.Suggestion != "" || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("unrelated word got a suggestion: %v", err)
	}
	// Ambiguous prefix "grad" (grad_x_weight, grad_squared) must not pick one
	// by prefix; edit distance decides only when close.
	_, err = ParseMetric("")
	if err == nil || !strings.Contains(err.Error(), "empty metric") {
		t.Errorf("empty metric: %v", err)
	}
	if _, err := ParseControls("random_k,"); err == nil {
		t.Error("trailing comma accepted")
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"grad_x_wieght", "grad_x_weight", 1}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q,%q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

func TestTablesListEveryOption(t *testing.T) {
	var txt, md strings.Builder
	if err := WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		for _, o := range k.Options {
			if o.Meaning == "" || strings.Contains(o.Meaning, "\n") {
				t.Errorf("%s %s: meaning must be one non-empty line", k.Name, o.Name)
			}
			if !strings.Contains(txt.String(), o.Name+" ") {
				t.Errorf("text table lacks %s", o.Name)
			}
			if !strings.Contains(md.String(), "| `"+o.Name+"` | ") {
				t.Errorf("markdown table lacks %s", o.Name)
			}
		}
	}
}
