package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

type splitCase struct {
	Text        string   `json:"text"`
	Splits      []string `json:"splits"`
	GPT2Splits  []string `json:"gpt2_splits"`
	Qwen2Splits []string `json:"qwen2_splits"`
}

func readSplitGoldens(t *testing.T) (pattern, gpt2, qwen2 string, cases []splitCase) {
	t.Helper()
	data, err := os.ReadFile("testdata/llama3-splits.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Pattern      string      `json:"pattern"`
		GPT2Pattern  string      `json:"gpt2_pattern"`
		Qwen2Pattern string      `json:"qwen2_pattern"`
		Cases        []splitCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.Pattern, v.GPT2Pattern, v.Qwen2Pattern, v.Cases
}

func applySplit(m matcher, s string) []string {
	var out []string
	for _, r := range splitBy(s, m, splitIsolated, false) {
		out = append(out, s[r[0]:r[1]])
	}
	return out
}

// The Llama-3, Qwen2 and GPT-2 pre-tokenizer regexes, through regexp2 and through
// the hand-written scanners, cut text exactly as Python's regex module does
// (testdata/gen_llama3_split.py).
func TestPreTokenizerRegexMatchesPython(t *testing.T) {
	pattern, gpt2, qwen2, cases := readSplitGoldens(t)
	if pattern != llama3Pattern || gpt2 != gpt2Pattern || qwen2 != qwen2Pattern {
		t.Fatalf("goldens were made for other patterns:\n%q\n%q\n%q", pattern, gpt2, qwen2)
	}
	l3, err := compileRegex(pattern)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := compileRegex(gpt2)
	if err != nil {
		t.Fatal(err)
	}
	q2, err := compileRegex(qwen2)
	if err != nil {
		t.Fatal(err)
	}
	impls := []struct {
		name            string
		l3, gpt2, qwen2 matcher
	}{
		{"regexp2", l3, g2, q2},
		{"scanner", fastRegex(llama3Pattern), fastRegex(gpt2Pattern), fastRegex(qwen2Pattern)},
	}
	for _, im := range impls {
		if im.l3 == nil || im.gpt2 == nil || im.qwen2 == nil {
			t.Fatalf("%s: missing matcher", im.name)
		}
		for _, c := range cases {
			if im.name == "regexp2" && strings.ContainsRune(c.Text, '\u017f') {
				continue // regexp2's (?i) does not fold "ſ" to "s"; see contraction
			}
			if got := applySplit(im.l3, c.Text); !reflect.DeepEqual(got, c.Splits) && len(got)+len(c.Splits) > 0 {
				t.Errorf("%s llama3 %q:\n  got  %q\n  want %q", im.name, c.Text, got, c.Splits)
			}
			if got := applySplit(im.gpt2, c.Text); !reflect.DeepEqual(got, c.GPT2Splits) && len(got)+len(c.GPT2Splits) > 0 {
				t.Errorf("%s gpt2 %q:\n  got  %q\n  want %q", im.name, c.Text, got, c.GPT2Splits)
			}
			if got := applySplit(im.qwen2, c.Text); !reflect.DeepEqual(got, c.Qwen2Splits) && len(got)+len(c.Qwen2Splits) > 0 {
				t.Errorf("%s qwen2 %q:\n  got  %q\n  want %q", im.name, c.Text, got, c.Qwen2Splits)
			}
		}
	}
}
