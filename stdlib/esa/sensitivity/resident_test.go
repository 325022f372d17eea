package sensitivity

import (
	"context"
	"math"
	"sync"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/checkpoint"
	"esa/stdlib/esa/choice"
	"esa/stdlib/model"
)

// copyingBackend is the CPU backend with a device's FromHost: a copy into a
// buffer of its own, which only Download brings back. It counts the
// FromHost and Download calls per host slice (by its first element's
// address), and Upload calls onto slices FromHost has seen, which would be
// gradients going back up.
type copyingBackend struct {
	backend.Backend

	mu       sync.Mutex
	fromHost map[*float32]int
	download map[*float32]int
	reUpload int
}

func newCopyingBackend() *copyingBackend {
	return &copyingBackend{Backend: backend.CPU(), fromHost: map[*float32]int{}, download: map[*float32]int{}}
}

func (c *copyingBackend) Name() string { return "fake-device" }

func (c *copyingBackend) FromHost(h []float32) backend.Buffer {
	if len(h) > 0 {
		c.mu.Lock()
		c.fromHost[&h[0]]++
		c.mu.Unlock()
	}
	b := c.Backend.Alloc(len(h))
	c.Backend.Upload(b, h)
	return b
}

func (c *copyingBackend) Upload(dst backend.Buffer, src []float32) {
	if len(src) > 0 {
		c.mu.Lock()
		if c.fromHost[&src[0]] > 0 {
			c.reUpload++
		}
		c.mu.Unlock()
	}
	c.Backend.Upload(dst, src)
}

func (c *copyingBackend) Download(dst []float32, src backend.Buffer) {
	if len(dst) > 0 {
		c.mu.Lock()
		c.download[&dst[0]]++
		c.mu.Unlock()
	}
	c.Backend.Download(dst, src)
}

// totals returns the FromHost and Download calls and the most either saw
// for one slice.
func (c *copyingBackend) totals() (fromHost, download, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.fromHost {
		fromHost += n
		most = max(most, n)
	}
	for _, n := range c.download {
		download += n
		most = max(most, n)
	}
	return
}

// meanGradientPerPass is meanGradient as it was before resident gradients:
// the same static assignment and worker-order sum, every pass copying the
// gradients to the backend and back.
func meanGradientPerPass(t *testing.T, m *model.Model, seqs [][]int, workers int) [][]float32 {
	t.Helper()
	var g [][]float32
	for w := 0; w < workers; w++ {
		gw := m.NewGrads()
		for i := w; i < len(seqs); i += workers {
			if _, _, err := m.LossAndGrad(seqs[i], gw); err != nil {
				t.Fatal(err)
			}
		}
		if g == nil {
			g = gw.G
			continue
		}
		for p := range g {
			for j, v := range gw.G[p] {
				g[p][j] += v
			}
		}
	}
	n := Tokens(seqs)
	for p := range g {
		for j := range g[p] {
			g[p][j] /= float32(n)
		}
	}
	return g
}

// TestMeanGradientResident: on a backend that copies like a device,
// meanGradient uploads and downloads each worker's gradients once rather
// than once per sequence, and gives the bits of the per-pass path — and
// grad_x_weight the bits it gives on the CPU backend.
func TestMeanGradientResident(t *testing.T) {
	m, err := checkpoint.Load("builtin", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := randomSeqs(7, 30, m.Config.Vocab, 8)
	P := len(m.Params)
	cpuScores := scoreBits(t, compute(t, m, seqs, Options{Metric: choice.GradXWeight, Workers: 3}))
	for _, workers := range []int{1, 3} {
		dev := newCopyingBackend()
		m.SetBackend(dev)
		want := meanGradientPerPass(t, m, seqs, workers)
		fh, dl, _ := dev.totals()
		if fh != len(seqs)*P || dl != len(seqs)*P {
			t.Fatalf("per-pass path: %d FromHost, %d Download, want %d each (sequences × parameters)", fh, dl, len(seqs)*P)
		}
		t.Logf("%d workers, %d sequences, %d parameters: per pass %d FromHost + %d Download", workers, len(seqs), P, fh, dl)

		dev = newCopyingBackend()
		m.SetBackend(dev)
		got, _, err := meanGradient(context.Background(), m, seqs, workers, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		fh, dl, most := dev.totals()
		if fh != workers*P || dl != workers*P || most != 1 || dev.reUpload != 0 {
			t.Fatalf("resident: %d FromHost, %d Download (at most %d per slice), %d re-uploads; want %d each (workers × parameters), once per slice, none",
				fh, dl, most, dev.reUpload, workers*P)
		}
		t.Logf("%d workers, %d sequences, %d parameters: resident %d FromHost + %d Download", workers, len(seqs), P, fh, dl)
		for p := range want {
			for j, v := range want[p] {
				if math.Float32bits(got[p][j]) != math.Float32bits(v) {
					t.Fatalf("%d workers: gradient %d[%d] = %v, per-pass path %v", workers, p, j, got[p][j], v)
				}
			}
		}
	}
	dev := newCopyingBackend()
	m.SetBackend(dev)
	if d := firstDiff(scoreBits(t, compute(t, m, seqs, Options{Metric: choice.GradXWeight, Workers: 3})), cpuScores); d != "" {
		t.Errorf("grad_x_weight on the copying backend vs the CPU: %s", d)
	}
}
