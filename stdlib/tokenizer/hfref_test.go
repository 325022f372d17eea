package tokenizer

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"esa/internal/testmodels"
)

// Goldens from Hugging Face's own tokenizers library (testdata/gen_hf_ref.sh)
// for the variants in testdata/hf-variants.json: the stories260K
// SentencePiece-style tokenizer as shipped and in its two Metaspace forms,
// GPT-2, and a Llama-3-style byte-level tokenizer (Split regex + ByteLevel,
// ignore_merges, special and single_word added tokens).

type variantSpec struct {
	Name     string            `json:"name"`
	Base     string            `json:"base"`
	Set      map[string]any    `json:"set"`
	ModelSet map[string]any    `json:"model_set"`
	Added    []json.RawMessage `json:"added"`
}

type hfCase struct {
	Text         string `json:"text"`
	IDs          []int  `json:"ids"`
	WithSpecials []int  `json:"with_specials"`
	Decode       string `json:"decode"`
	DecodeSkip   string `json:"decode_skip"`
}

// applyVariant must do what build() does in gen_hf_ref.js.
func applyVariant(t *testing.T, base []byte, v variantSpec) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(base, &m); err != nil {
		t.Fatal(err)
	}
	for k, x := range v.Set {
		m[k] = x
	}
	model := m["model"].(map[string]any)
	for k, x := range v.ModelSet {
		model[k] = x
	}
	added, _ := m["added_tokens"].([]any)
	for _, a := range v.Added {
		var x any
		if err := json.Unmarshal(a, &x); err != nil {
			t.Fatal(err)
		}
		added = append(added, x)
	}
	m["added_tokens"] = added
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMatchesHFTokenizers(t *testing.T) {
	var spec struct {
		Variants []variantSpec `json:"variants"`
	}
	var expected struct {
		Variants []struct {
			Name  string   `json:"name"`
			Cases []hfCase `json:"cases"`
		} `json:"variants"`
	}
	for path, dst := range map[string]any{"testdata/hf-variants.json": &spec, "testdata/hf-expected.json": &expected} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, dst); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if len(spec.Variants) != len(expected.Variants) {
		t.Fatalf("%d variants but %d expected: rerun gen_hf_ref.sh", len(spec.Variants), len(expected.Variants))
	}
	for i, v := range spec.Variants {
		t.Run(v.Name, func(t *testing.T) {
			var base []byte
			switch v.Base {
			case "stories":
				var err error
				if base, err = os.ReadFile(testmodels.Path(t, "stories260K-hf/tokenizer.json")); err != nil {
					t.Fatal(err)
				}
			case "gpt2":
				base = gpt2JSON(t)
			default:
				t.Fatalf("unknown base %q", v.Base)
			}
			tk, f, err := parseTokenizerJSON(applyVariant(t, base, v), v.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := tk.resolveSpecials(f, specialConfig{}); err != nil {
				t.Fatal(err)
			}
			for _, c := range expected.Variants[i].Cases {
				got := tk.Encode(c.Text)
				if !reflect.DeepEqual(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					t.Errorf("encode %q:\n  got  %v\n  want %v", c.Text, got, c.IDs)
					continue
				}
				if d := tk.Decode(c.IDs, false); d != c.Decode {
					t.Errorf("decode %v: got %q want %q", c.IDs, d, c.Decode)
				}
				if d := tk.Decode(c.IDs, true); d != c.DecodeSkip {
					t.Errorf("decode %v skipping specials: got %q want %q", c.IDs, d, c.DecodeSkip)
				}
				// What the post_processor adds must be what AddBOS/BOS say.
				want := append([]int{}, c.IDs...)
				if tk.AddBOS() {
					want = append([]int{tk.BOS()}, want...)
				}
				if !reflect.DeepEqual(want, c.WithSpecials) && len(want)+len(c.WithSpecials) > 0 {
					t.Errorf("with specials %q: AddBOS %v BOS %d gives %v, reference %v", c.Text, tk.AddBOS(), tk.BOS(), want, c.WithSpecials)
				}
			}
		})
	}
}
