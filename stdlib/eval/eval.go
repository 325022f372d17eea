// Package eval measures a model on texts — perplexity and next-token
// accuracy — and runs greedy generation for smoke checks.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"esa/stdlib/model"
	"esa/stdlib/progress"
	"esa/stdlib/tokenizer"
)

// Options control Evaluate.
type Options struct {
	// MaxLength is the most tokens (BOS included) one forward pass sees;
	// 0 means the model's max_position_embeddings.
	MaxLength int
	// MaxSamples evaluates only the first N texts; 0 means all.
	MaxSamples int
	// Stride selects sliding windows: 0 truncates each text at MaxLength;
	// S in [1, MaxLength-1] moves a MaxLength window S tokens at a time and
	// scores each token exactly once, with up to MaxLength-S tokens of context
	// from the previous window (the Hugging Face perplexity recipe).
	Stride int
	// Workers is how many texts are scored at once (the model allows
	// concurrent passes); 0 means 1. The result is the same bits for
	// every count: each text is summed on one worker, and the per-text
	// sums are added in text order.
	Workers int
}

// Result is what an evaluation measured and on how much data.
type Result struct {
	Perplexity    float64 `json:"perplexity"`     // exp(mean_nll)
	TokenAccuracy float64 `json:"token_accuracy"` // share of predicted tokens whose argmax is the target
	MeanNLL       float64 `json:"mean_nll"`       // nats per predicted token
	NTexts        int     `json:"n_texts"`        // texts that contributed predictions
	NTokens       int     `json:"n_tokens"`       // predicted (scored) tokens
	NSkipped      int     `json:"n_skipped"`      // texts too short to predict anything
	NTruncated    int     `json:"n_truncated"`    // texts cut at max_length (truncate mode)
	NWindows      int     `json:"n_windows"`      // forward passes run
	MaxLength     int     `json:"max_length"`
	Stride        int     `json:"stride"` // 0 = truncation
	AddBOS        bool    `json:"add_bos"`
}

// Encode turns a text into the ids a model sees: BOS first when the
// tokenizer's config says so.
func Encode(tok tokenizer.Tokenizer, text string) []int {
	ids := tok.Encode(text)
	if tok.AddBOS() && tok.BOS() >= 0 {
		ids = append([]int{tok.BOS()}, ids...)
	}
	return ids
}

// Evaluate computes perplexity and token accuracy of m over texts, using
// m.Tokenizer, opts.Workers texts at a time. It reports progress per text
// and stops with ctx's error when cancelled.
func Evaluate(ctx context.Context, m *model.Model, texts []string, opts Options, rep progress.Reporter) (Result, error) {
	rep = progress.Or(rep)
	if m == nil {
		return Result{}, errors.New("eval: no model")
	}
	tok := m.Tokenizer
	if tok == nil {
		return Result{}, errors.New("eval: the model has no tokenizer (give one with --tokenizer)")
	}
	L := opts.MaxLength
	maxPos := m.Config.MaxSeqLen
	switch {
	case L < 0:
		return Result{}, fmt.Errorf("eval: max_length %d must be positive", L)
	case L == 0 && maxPos > 0:
		L = maxPos
	case L == 0:
		return Result{}, errors.New("eval: the model has no max_position_embeddings; give max_length")
	case maxPos > 0 && L > maxPos:
		return Result{}, fmt.Errorf("eval: max_length %d exceeds the model's max_position_embeddings %d", L, maxPos)
	case L < 2:
		return Result{}, fmt.Errorf("eval: max_length %d must be at least 2 (one token of context, one to predict)", L)
	}
	if opts.Stride < 0 || (opts.Stride > 0 && opts.Stride >= L) {
		return Result{}, fmt.Errorf("eval: stride %d must be 0 (truncate) or in [1, max_length-1 = %d]", opts.Stride, L-1)
	}
	if opts.MaxSamples < 0 {
		return Result{}, fmt.Errorf("eval: max_samples %d must not be negative", opts.MaxSamples)
	}
	if opts.MaxSamples > 0 && opts.MaxSamples < len(texts) {
		texts = texts[:opts.MaxSamples]
	}
	if len(texts) == 0 {
		return Result{}, errors.New("eval: no texts")
	}
	if opts.Workers < 0 {
		return Result{}, fmt.Errorf("eval: workers %d must not be negative", opts.Workers)
	}
	res := Result{MaxLength: L, Stride: opts.Stride, AddBOS: tok.AddBOS() && tok.BOS() >= 0}
	per := make([]textScore, len(texts))
	if err := forTexts(ctx, len(texts), opts.Workers, rep, func(ctx context.Context, i int) (err error) {
		per[i], err = scoreText(ctx, m, texts[i], L, opts.Stride)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("eval: text %d: %v", i+1, err)
		}
		return err
	}); err != nil {
		return Result{}, err
	}
	// Float sums in text order, so the schedule and the worker count do
	// not change the result's bits.
	var sumNLL float64
	var correct int
	for _, p := range per {
		if p.skipped {
			res.NSkipped++
			continue
		}
		if p.truncated {
			res.NTruncated++
		}
		sumNLL += p.nll
		correct += p.correct
		res.NTokens += p.tokens
		res.NWindows += p.windows
		res.NTexts++
	}
	if res.NTokens == 0 {
		return Result{}, fmt.Errorf("eval: none of the %d texts has two tokens to predict from", len(texts))
	}
	res.MeanNLL = sumNLL / float64(res.NTokens)
	res.Perplexity = math.Exp(res.MeanNLL)
	res.TokenAccuracy = float64(correct) / float64(res.NTokens)
	return res, nil
}

// forTexts runs fn(ctx, i) for every text index i on up to `workers`
// goroutines, which take the indices in increasing order, and reports
// "evaluate" progress as texts finish. The first error cancels the ctx the
// others run under and is returned, unless the caller's ctx is done: then
// its error is.
func forTexts(ctx context.Context, n, workers int, rep progress.Reporter, fn func(ctx context.Context, i int) error) error {
	workers = max(1, min(workers, n))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rep.Progress("evaluate", 0, n)
	var (
		mu    sync.Mutex
		next  int
		done  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				err := fn(wctx, i)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				if err == nil {
					// Under the lock, so the counts arrive in order.
					done++
					rep.Progress("evaluate", done, n)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return first
}

// textScore is what one text contributed.
type textScore struct {
	nll                      float64 // summed over its windows, in window order
	correct, tokens, windows int
	skipped, truncated       bool
}

// scoreText encodes a text and scores it, truncated at L tokens (stride 0)
// or in sliding windows of L tokens moving by stride. It returns ctx's
// error, unwrapped, when ctx is done.
func scoreText(ctx context.Context, m *model.Model, text string, L, stride int) (textScore, error) {
	var r textScore
	ids := Encode(m.Tokenizer, text)
	if len(ids) < 2 {
		r.skipped = true
		return r, nil
	}
	if stride == 0 && len(ids) > L {
		ids = ids[:L]
		r.truncated = true
	}
	// Windows [b, e); each scores targets t in [from, e) from row t-1-b.
	from := 1
	for b := 0; ; b += stride {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		e := min(b+L, len(ids))
		nll, ok, err := score(m, ids[b:e], from-b)
		if err != nil {
			return r, err
		}
		r.nll += nll
		r.correct += ok
		r.tokens += e - from
		r.windows++
		from = e
		if e == len(ids) {
			return r, nil
		}
	}
}

// score runs one window and sums, over targets ids[j] for j in [first,
// len(ids)), the negative log-likelihood (float64 log-sum-exp) and the count
// of rows whose argmax (first index on ties) is the target.
func score(m *model.Model, ids []int, first int) (nll float64, correct int, err error) {
	p, err := m.Forward(ids, nil)
	if err != nil {
		return 0, 0, err
	}
	defer p.Release()
	V := m.Config.Vocab
	for j := first; j < len(ids); j++ {
		row := p.Logits[(j-1)*V : j*V]
		best := 0
		mx := math.Inf(-1)
		finite := true
		for k, v := range row {
			x := float64(v)
			if math.IsNaN(x) || math.IsInf(x, 0) {
				finite = false
				break
			}
			if x > mx {
				mx, best = x, k
			}
		}
		if !finite {
			// A damaged (perturbed) model may produce inf/NaN logits; the
			// token then counts as wrong with infinite loss, and the
			// infinite perplexity is the measurement.
			nll += math.Inf(1)
			continue
		}
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v) - mx)
		}
		nll += mx + math.Log(se) - float64(row[ids[j]])
		if best == ids[j] {
			correct++
		}
	}
	return nll, correct, nil
}
