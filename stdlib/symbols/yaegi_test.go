package symbols_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"esa/kernel/session"
	"esa/stdlib/symbols"

	"github.com/traefik/yaegi/interp"
)

// Each public entry point of the notebook API, called from a kernel session
// the way cells call it, on the built-in model. yaegi has gaps (nil
// interface arguments, generics, variadic interfaces) that compile fine in Go
// and only fail here, so this is the test that keeps the API usable in cells.
func TestNotebookAPIUnderYaegi(t *testing.T) {
	var out bytes.Buffer
	s, err := session.New(session.Options{Stdout: &out, Stderr: &out, Symbols: []interp.Exports{symbols.Exports()}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{
		`import ("context"; "fmt"; "display"; "esa"; "plot")`,
		`ctx := context.Background()`,
		`m, err := esa.Load("", "")
		 if err != nil { panic(err) }`,
		`texts := []string{"One day, Tom saw a big red ball.", "Lily was happy and went home with her cat."}`,
		`base, err := esa.Evaluate(ctx, m, texts, 64, 2)
		 if err != nil || base.NTokens == 0 { panic(fmt.Sprint("evaluate: ", err)) }`,
		`metric, err := esa.ParseMetric("grad_x_weight")
		 if err != nil { panic(err) }`,
		`s, err := esa.Sensitivity(ctx, m, texts, metric, esa.SensitivityOptions{MaxLength: 64})
		 if err != nil { panic(err) }`,
		`top, err := esa.SelectTop(ctx, s, 5, esa.PerLayer)
		 if err != nil || len(top.Entries) == 0 { panic(fmt.Sprint("top: ", err)) }`,
		`bottom, err := esa.SelectBottom(ctx, s, 5, esa.PerLayer)
		 if err != nil { panic(err) }`,
		`rnd, err := esa.SelectRandom(s, 5, esa.PerLayer, 1)
		 if err != nil { panic(err) }`,
		`cfg := esa.DefaultConfig()
		 cfg.Perturb = esa.Zero
		 spec, err := cfg.PerturbSpec(0)
		 if err != nil { panic(err) }
		 after, pr, err := esa.PerturbEvaluate(ctx, m, s, top, spec, texts, 64, 2)
		 if err != nil { panic(err) }
		 fmt.Println("ppl", base.Perplexity, after.Perplexity, pr)`,
		`fig, err := plot.Histogram("scores", []float64{1, 2, 3, 4, 100}, 0)
		 if err != nil { panic(err) }
		 display.Show(fig)`,
		`tb := display.NewTable([]string{"set", "ppl"})
		 tb.AddRow([]any{"base", base.Perplexity})
		 tb.AddRow([]any{"top zeroed", after.Perplexity})
		 fmt.Println(tb.String())`,
		`_ = bottom; _ = rnd`,
		`smokeTexts, err := esa.ReadTexts("")
		 if err != nil || len(smokeTexts) == 0 { panic(fmt.Sprint("ReadTexts: ", err)) }
		 if _, err := esa.ReadTexts("no-such-file.txt"); err == nil { panic("ReadTexts: missing file accepted") }`,
		`top2, bottom2, err := esa.Rank(ctx, s, 5, esa.PerLayer)
		 if err != nil || top2.Len() != top.Len() || bottom2.Len() != bottom.Len() { panic(fmt.Sprint("Rank: ", err)) }`,
		`if j := esa.Jaccard(top, top2); j != 1 { panic(fmt.Sprint("Jaccard(top, Rank's top) = ", j)) }
		 if j := esa.Jaccard(bottom, bottom2); j != 1 { panic(fmt.Sprint("Jaccard(bottom, Rank's bottom) = ", j)) }
		 if j := esa.Jaccard(top, nil); j != 0 { panic(fmt.Sprint("Jaccard(top, nil) = ", j)) }`,
		`rc := esa.DefaultConfig()
		 rc.Model, rc.Metric, rc.TopK, rc.MaxSamples, rc.MaxLength = "builtin", esa.Magnitude, 2, 2, 32
		 res, err := esa.Run(ctx, rc, esa.RunOptions{})
		 if err != nil { panic(err) }
		 if res.Model.VocabSize != m.Config.Vocab || res.Model.VocabSize == 0 { panic(fmt.Sprint("VocabSize ", res.Model.VocabSize, " want ", m.Config.Vocab)) }`,
	}
	for _, src := range steps {
		if r := s.Exec(context.Background(), src); r.Err != nil {
			t.Fatalf("%s\n-> %s: %s\n%s\noutput: %s", src, r.Err.Name, r.Err.Value, strings.Join(r.Err.Traceback, "\n"), out.String())
		}
	}
	if !strings.Contains(out.String(), "ppl ") || !strings.Contains(out.String(), "top zeroed") {
		t.Fatalf("output: %s", out.String())
	}
}
