package train

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"esa/stdlib/checkpoint"
)

// The built-in model's recipe must reproduce it: the same options give the
// same bytes, and what Run writes loads as a Hugging Face checkpoint whose
// evaluation matches what Run reported.
func TestRunIsReproducibleAndLoads(t *testing.T) {
	o := DefaultOptions()
	o.Stories, o.HeldOut, o.Steps, o.Dim, o.Heads, o.KVHeads, o.Hidden, o.Layers, o.SeqLen = 300, 10, 4, 32, 4, 2, 64, 2, 32
	var sums [2][]byte
	var res *Result
	for i := range sums {
		dir := t.TempDir()
		r, err := Run(context.Background(), o, dir, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		res = r
		if sums[i], err = os.ReadFile(filepath.Join(dir, "model.safetensors")); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			m, err := checkpoint.Load(dir, checkpoint.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Tokenizer == nil || m.Config.Vocab != 512 || m.Config.Layers != 2 {
				t.Fatalf("reloaded: vocab %d layers %d tokenizer %v", m.Config.Vocab, m.Config.Layers, m.Tokenizer != nil)
			}
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatal("two runs with the same options wrote different weights")
	}
	if !(res.HeldOut.Perplexity > 1) || res.HeldOut.NTexts != 10 {
		t.Fatalf("held-out evaluation: %+v", res.HeldOut)
	}
}
