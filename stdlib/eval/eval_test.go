package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/checkpoint"
	"esa/stdlib/data"
	"esa/stdlib/model"
	"esa/stdlib/safetensors"
)

// KnownText is what both shared stories260K checkpoints greedily generate
// from BOS in 60 tokens (llama2.c run.c output, see the models' SOURCE.md).
const KnownText = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high"

func load(t *testing.T, rel string, opts checkpoint.Options) *model.Model {
	t.Helper()
	c, err := checkpoint.Open(testmodels.Path(t, rel), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m, err := c.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGenerateKnownText(t *testing.T) {
	for _, rel := range []string{"stories260K/stories260K.bin", "stories260K-hf"} {
		m := load(t, rel, checkpoint.Options{})
		g, err := Generate(context.Background(), m, "", 60)
		if err != nil {
			t.Fatal(err)
		}
		if g.Text != KnownText || len(g.Tokens) != 60 {
			t.Errorf("%s: generated %d tokens %q\nwant %q", rel, len(g.Tokens), g.Text, KnownText)
		}
	}
	// A prompt is continued, keeping the space before the next word.
	m := load(t, "stories260K-hf", checkpoint.Options{})
	g, err := Generate(context.Background(), m, "Once upon a time, there was a little girl named", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(KnownText[len("Once upon a time, there was a little girl named"):], g.Text) || !strings.HasPrefix(g.Text, " Lily") {
		t.Errorf("continuation %q", g.Text)
	}
}

// The golden of stories260K-hf, computed by an independent PyTorch
// implementation in float64, gives the expected mean NLL and accuracy of one
// text.
func TestEvaluateAgainstGolden(t *testing.T) {
	gpath := filepath.Join(testmodels.RepoRoot(), "stdlib", "model", "testdata", "llama_stories260K_golden.safetensors")
	gf, err := safetensors.Open(gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	var ids, logits, loss []float32
	for _, x := range gf.Tensors {
		switch x.Name {
		case "ids":
			ids = x.F32()
		case "logits":
			logits = x.F32()
		case "loss":
			loss = x.F32()
		}
	}
	text := gf.Metadata["text"]
	if text == "" || ids == nil || logits == nil || loss == nil {
		t.Fatalf("golden %s lacks text/ids/logits/loss", gpath)
	}
	V := len(logits) / len(ids)
	correct := 0
	for p := 0; p+1 < len(ids); p++ {
		row := logits[p*V : (p+1)*V]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == int(ids[p+1]) {
			correct++
		}
	}
	file := filepath.Join(t.TempDir(), "golden.txt")
	os.WriteFile(file, []byte(text+"\n\n"+text+"\n"), 0o644)
	texts, err := data.ReadTexts(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"stories260K-hf", "stories260K/stories260K.bin"} {
		m := load(t, rel, checkpoint.Options{})
		enc := Encode(m.Tokenizer, text)
		if len(enc) != len(ids) || enc[0] != int(ids[0]) || enc[len(enc)-1] != int(ids[len(ids)-1]) {
			t.Fatalf("%s: encoded %v, golden ids %v", rel, enc, ids)
		}
		r, err := Evaluate(context.Background(), m, texts, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.NTexts != 2 || r.NTokens != 2*(len(ids)-1) || r.NTruncated != 0 || r.MaxLength != 512 || !r.AddBOS {
			t.Errorf("%s: counts %+v", rel, r)
		}
		if d := math.Abs(r.MeanNLL - float64(loss[0])); d > 1e-5*float64(loss[0]) {
			t.Errorf("%s: mean NLL %v, golden %v", rel, r.MeanNLL, loss[0])
		}
		if math.Abs(r.Perplexity-math.Exp(float64(loss[0]))) > 1e-4 {
			t.Errorf("%s: perplexity %v", rel, r.Perplexity)
		}
		if want := float64(correct) / float64(len(ids)-1); r.TokenAccuracy != want {
			t.Errorf("%s: token accuracy %v, golden argmax gives %v", rel, r.TokenAccuracy, want)
		}
	}
}

// Truncation and sliding windows score the tokens they promise to, with the
// context they promise: checked against per-token losses recomputed here.
func TestWindows(t *testing.T) {
	m := load(t, "stories260K-hf", checkpoint.Options{})
	text := "Once upon a time, there was a little dog named Max. Max liked to run in the big green park with his friend Tom. One day, they found a shiny red ball under a tree."
	ids := Encode(m.Tokenizer, text)
	n := len(ids)
	V := m.Config.Vocab
	// nllAt: loss of target ids[at] predicted from context ids[b:at].
	nllAt := func(b, at int) float64 {
		p, err := m.Forward(ids[b:at+1], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		tg := make([]int, at+1-b)
		for i := range tg {
			tg[i] = -1
		}
		tg[at-1-b] = ids[at]
		s, _, _ := model.CrossEntropy(p.Logits, V, tg)
		return s
	}
	const L = 20
	// Truncation: the first L-1 targets, from the start.
	var want float64
	for tt := 1; tt < L; tt++ {
		want += nllAt(0, tt)
	}
	r, err := Evaluate(context.Background(), m, []string{text}, Options{MaxLength: L}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.NTokens != L-1 || r.NTruncated != 1 || r.NWindows != 1 || math.Abs(r.MeanNLL-want/(L-1)) > 1e-5 {
		t.Errorf("truncate: %+v, want mean %v", r, want/(L-1))
	}
	// Sliding: target t is scored by the first window [b, b+L) with b+L > t.
	for _, S := range []int{1, 7, L - 1} {
		want = 0
		for tt := 1; tt < n; tt++ {
			b := 0
			for b+L <= tt {
				b += S
			}
			want += nllAt(b, tt)
		}
		r, err := Evaluate(context.Background(), m, []string{text}, Options{MaxLength: L, Stride: S}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.NTokens != n-1 || r.NTruncated != 0 || math.Abs(r.MeanNLL-want/float64(n-1)) > 1e-5 {
			t.Errorf("stride %d: %+v, want mean %v", S, r, want/float64(n-1))
		}
	}
}

type recorder struct{ calls [][2]int }

func (r *recorder) Progress(phase string, done, total int) {
	r.calls = append(r.calls, [2]int{done, total})
}

func TestEvaluateOptionsAndJSON(t *testing.T) {
	m := load(t, "stories260K-hf", checkpoint.Options{})
	texts := []string{"Lily saw a cat.", "x", "Tom ran home.", "The end."}
	rec := &recorder{}
	r, err := Evaluate(context.Background(), m, texts, Options{MaxSamples: 3}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if r.NTexts+r.NSkipped != 3 || len(rec.calls) != 4 || rec.calls[3] != [2]int{3, 3} {
		t.Errorf("result %+v progress %v", r, rec.calls)
	}
	b, _ := json.Marshal(r)
	var keys map[string]any
	json.Unmarshal(b, &keys)
	for _, k := range []string{"perplexity", "token_accuracy", "n_texts", "n_tokens", "mean_nll"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if math.IsInf(r.Perplexity, 0) || math.IsNaN(r.Perplexity) || r.Perplexity < 1 {
		t.Errorf("perplexity %v", r.Perplexity)
	}
	for _, o := range []struct {
		opts Options
		want string
	}{
		{Options{MaxLength: 600}, "exceeds the model's max_position_embeddings 512"},
		{Options{MaxLength: 10, Stride: 10}, "stride 10"},
		{Options{MaxLength: 1}, "at least 2"},
	} {
		if _, err := Evaluate(context.Background(), m, texts, o.opts, nil); err == nil || !strings.Contains(err.Error(), o.want) {
			t.Errorf("%+v: err %v", o.opts, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, m, texts, Options{}, nil); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

// A bf16 copy of the model evaluates close to the float32 one.
func TestBF16Close(t *testing.T) {
	texts := []string{"Once upon a time, there was a little dog named Max. Max liked to run in the big green park."}
	r32, err := Evaluate(context.Background(), load(t, "stories260K-hf", checkpoint.Options{}), texts, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r16, err := Evaluate(context.Background(), load(t, "stories260K-hf", checkpoint.Options{DType: "bf16"}), texts, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(r16.MeanNLL - r32.MeanNLL); d > 0.05*r32.MeanNLL || d == 0 {
		t.Errorf("bf16 mean NLL %v vs f32 %v", r16.MeanNLL, r32.MeanNLL)
	}
}

// A weight set to infinity gives non-finite logits: the evaluation reports
// infinite perplexity rather than failing or returning garbage.
func TestEvaluateDamagedModel(t *testing.T) {
	m := load(t, "stories260K-hf", checkpoint.Options{})
	i := m.ParamIndex("model.norm.weight")
	m.Params[i].Set(0, math.Inf(1))
	m.Invalidate(i)
	r, err := Evaluate(context.Background(), m, []string{"Lily saw a big red ball."}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(r.Perplexity, 1) || !math.IsInf(r.MeanNLL, 1) || r.TokenAccuracy != 0 || r.NTokens == 0 {
		t.Errorf("damaged model: %+v", r)
	}
}
