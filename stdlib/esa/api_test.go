package esa

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"esa/internal/testmodels"
	smoke "esa/stdlib/esa/data"
	"esa/stdlib/esa/rank"
	"esa/stdlib/esa/sensitivity"
)

func TestReadTexts(t *testing.T) {
	got, err := ReadTexts("")
	if err != nil || len(got) == 0 || !slices.Equal(got, smoke.Smoke()) {
		t.Fatalf(`ReadTexts("") = %d texts, %v; want the smoke set (%d)`, len(got), err, len(smoke.Smoke()))
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "texts.txt")
	if err := os.WriteFile(p, []byte("first text\n\nsecond text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ReadTexts(p)
	if err != nil || !slices.Equal(got, []string{"first text", "second text"}) {
		t.Errorf("ReadTexts(%s) = %q, %v", p, got, err)
	}
	missing := filepath.Join(dir, "missing.txt")
	if got, err := ReadTexts(missing); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing file: %d texts, error %v (want an error naming the file, no fallback)", len(got), err)
	}
}

func TestJaccard(t *testing.T) {
	set := func(keys ...[2]int64) *rank.Set {
		s := &rank.Set{}
		for _, k := range keys {
			s.Entries = append(s.Entries, rank.Entry{Tensor: int(k[0]), Flat: k[1]})
		}
		return s
	}
	a := set([2]int64{0, 1}, [2]int64{0, 2}, [2]int64{1, 1})
	b := set([2]int64{1, 1}, [2]int64{0, 2}, [2]int64{2, 0}, [2]int64{0, 3})
	cases := []struct {
		name string
		a, b *rank.Set
		want float64
	}{
		{"shared 2 of 5", a, b, 2.0 / 5},
		{"symmetric", b, a, 2.0 / 5},
		{"self", a, a, 1},
		// same flat offset in another tensor is another weight
		{"disjoint", set([2]int64{0, 1}), set([2]int64{1, 1}), 0},
		{"both empty", set(), set(), 1},
		{"nil and empty", nil, set(), 1},
		{"nil and non-empty", a, nil, 0},
	}
	for _, c := range cases {
		if got := Jaccard(c.a, c.b); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRank: one pass gives SelectTop's and SelectBottom's sets, and in
// global mode they are the k highest and lowest of all scores (checked
// against a full sort of every score).
func TestRank(t *testing.T) {
	m, err := Load(testmodels.Path(t, "stories260K-hf"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Sensitivity(ctx, m, smoke.Smoke()[:2], GradXWeight, SensitivityOptions{MaxLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{PerLayer, Global} {
		top, bottom, err := Rank(ctx, s, 7, mode)
		if err != nil {
			t.Fatal(err)
		}
		wantTop, err1 := SelectTop(ctx, s, 7, mode)
		wantBottom, err2 := SelectBottom(ctx, s, 7, mode)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !slices.Equal(top.Entries, wantTop.Entries) || !slices.Equal(bottom.Entries, wantBottom.Entries) {
			t.Errorf("%s: Rank differs from SelectTop/SelectBottom", mode)
		}
		if top.Kind != "top_k" || bottom.Kind != "bottom_k" {
			t.Errorf("%s: kinds %q, %q", mode, top.Kind, bottom.Kind)
		}
	}

	// Every score, sorted: the global sets hold the 7 extremes.
	var all []float32
	for i, ti := range s.Tensors {
		b := make([]float32, ti.Len())
		if err := s.ScoreRange(i, 0, b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] > all[j] })
	top, bottom, err := Rank(ctx, s, 7, Global)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if top.Entries[i].Score != all[i] || bottom.Entries[i].Score != all[len(all)-1-i] {
			t.Errorf("rank %d: top %v bottom %v, sorted scores %v and %v", i, top.Entries[i].Score, bottom.Entries[i].Score, all[i], all[len(all)-1-i])
		}
	}

	if _, _, err := Rank(ctx, s, 0, Global); err == nil {
		t.Error("k = 0 accepted")
	}
	if _, _, err := Rank(ctx, (*sensitivity.Scores)(nil), 3, Global); err == nil {
		t.Error("nil scores accepted")
	}
}

// TestVocabSizeReported: Run records the embedding's vocabulary size as
// config.json states it, under "vocab_size" in the JSON.
func TestVocabSizeReported(t *testing.T) {
	b, err := os.ReadFile(testmodels.Path(t, "stories260K-hf/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		VocabSize int `json:"vocab_size"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.VocabSize == 0 {
		t.Fatalf("config.json vocab_size: %v, %v", cfg.VocabSize, err)
	}
	c := smallConfig(t)
	c.Metric, c.TopK = Magnitude, 2
	r, err := Run(context.Background(), c, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model.VocabSize != cfg.VocabSize {
		t.Errorf("VocabSize %d, config.json says %d", r.Model.VocabSize, cfg.VocabSize)
	}
	j, err := json.Marshal(r.Model)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(j, &back); err != nil || back["vocab_size"] != float64(cfg.VocabSize) {
		t.Errorf("model JSON vocab_size = %v (%v)", back["vocab_size"], err)
	}
}
