package model_test

import (
	"math"
	"slices"
	"sync"
	"testing"

	"esa/stdlib/backend"
	"esa/stdlib/model"
	"esa/stdlib/tensor"
)

// devBackend is the CPU backend posing as a device: FromHost copies into a
// buffer of its own (as the CUDA backend does), unless alias, which keeps the
// CPU backend's aliasing FromHost. It counts, per host slice (by its first
// element's address), the host→device copies (FromHost, Upload) and the
// device→host ones (Download).
type devBackend struct {
	backend.Backend
	name  string
	alias bool

	mu       sync.Mutex
	up, down map[*float32]int
}

func newDevBackend(name string, alias bool) *devBackend {
	return &devBackend{Backend: backend.CPU(), name: name, alias: alias, up: map[*float32]int{}, down: map[*float32]int{}}
}

func (d *devBackend) Name() string { return d.name }

func (d *devBackend) count(m map[*float32]int, h []float32) {
	if len(h) == 0 {
		return
	}
	d.mu.Lock()
	m[&h[0]]++
	d.mu.Unlock()
}

func (d *devBackend) FromHost(h []float32) backend.Buffer {
	d.count(d.up, h)
	if d.alias {
		return d.Backend.FromHost(h) // counted as a call; nothing moves
	}
	b := d.Backend.Alloc(len(h))
	d.Backend.Upload(b, h)
	return b
}

func (d *devBackend) Upload(dst backend.Buffer, src []float32) {
	d.count(d.up, src)
	d.Backend.Upload(dst, src)
}

func (d *devBackend) Download(dst []float32, src backend.Buffer) {
	d.count(d.down, dst)
	d.Backend.Download(dst, src)
}

// perTensor returns how many times each gradient slice of g went to the
// backend (FromHost, Upload) or, with down, came back (Download).
func (d *devBackend) perTensor(g *model.Grads, down bool) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.up
	if down {
		m = d.down
	}
	out := make([]int, len(g.G))
	for i, v := range g.G {
		out[i] = m[&v[0]]
	}
	return out
}

func (d *devBackend) reset() {
	d.mu.Lock()
	clear(d.up)
	clear(d.down)
	d.mu.Unlock()
}

// wantEach fails unless every tensor saw exactly n copies.
func wantEach(t *testing.T, what string, got []int, n int) {
	t.Helper()
	for i, c := range got {
		if c != n {
			t.Fatalf("%s: gradient %d copied %d times, want %d (all: %v)", what, i, c, n, got)
		}
	}
}

// bytes is what the copies perTensor counts moved.
func (d *devBackend) bytes(g *model.Grads, down bool) int64 {
	var n int64
	for i, c := range d.perTensor(g, down) {
		n += int64(c) * 4 * int64(len(g.G[i]))
	}
	return n
}

// sameGrads fails unless g and want hold the same bits.
func sameGrads(t *testing.T, what string, g *model.Grads, want [][]float32) {
	t.Helper()
	for i := range want {
		for j, v := range want[i] {
			if math.Float32bits(g.G[i][j]) != math.Float32bits(v) {
				t.Fatalf("%s: gradient %d[%d] = %v, want %v", what, i, j, g.G[i][j], v)
			}
		}
	}
}

func allZero(g *model.Grads) bool {
	for _, v := range g.G {
		for _, x := range v {
			if x != 0 {
				return false
			}
		}
	}
	return true
}

// residentSetup is a small model, sequences, and the reference gradients:
// ref[k] is the sum over seqs[:k] accumulated by the default (per-pass
// copying) path on the plain CPU backend.
func residentSetup(t *testing.T) (*model.Model, [][]int, [][][]float32) {
	cfg := storiesConfig()
	cfg.Layers = 2
	m := randomModel(t, cfg, tensor.F32, 11)
	var seqs [][]int
	for k := range 4 {
		seqs = append(seqs, randomIDs(9+3*k, cfg.Vocab, uint64(20+k)))
	}
	g := m.NewGrads()
	ref := [][][]float32{cloneGrads(g)}
	for _, ids := range seqs {
		if _, _, err := m.LossAndGrad(ids, g); err != nil {
			t.Fatal(err)
		}
		ref = append(ref, cloneGrads(g))
	}
	return m, seqs, ref
}

func cloneGrads(g *model.Grads) [][]float32 {
	out := make([][]float32, len(g.G))
	for i, v := range g.G {
		out[i] = slices.Clone(v)
	}
	return out
}

func lossAndGrad(t *testing.T, m *model.Model, ids []int, g *model.Grads) {
	t.Helper()
	if _, _, err := m.LossAndGrad(ids, g); err != nil {
		t.Fatal(err)
	}
}

// TestResidentGrads: on a device-like backend the default path copies every
// gradient in and out per sequence; resident mode uploads once, downloads
// only at Sync, and ends on the same bits.
func TestResidentGrads(t *testing.T) {
	m, seqs, ref := residentSetup(t)
	N := len(seqs)
	dev := newDevBackend("fake-device", false)
	m.SetBackend(dev)

	// Default: N copies each way per tensor, same bits as on the CPU.
	g := m.NewGrads()
	for _, ids := range seqs {
		lossAndGrad(t, m, ids, g)
	}
	wantEach(t, "default, uploads", dev.perTensor(g, false), N)
	wantEach(t, "default, downloads", dev.perTensor(g, true), N)
	t.Logf("default, %d sequences: gradients copied %d bytes up, %d bytes down", N, dev.bytes(g, false), dev.bytes(g, true))
	sameGrads(t, "default on the device", g, ref[N])

	// Resident: one upload, nothing back until Sync; G untouched meanwhile.
	dev.reset()
	g = m.NewGrads()
	g.Resident(true)
	for _, ids := range seqs {
		lossAndGrad(t, m, ids, g)
	}
	wantEach(t, "resident, uploads", dev.perTensor(g, false), 1)
	wantEach(t, "resident, downloads before Sync", dev.perTensor(g, true), 0)
	if !allZero(g) {
		t.Fatal("resident: G changed before Sync, so the passes did not accumulate on the device")
	}
	t.Logf("resident, %d sequences: gradients copied %d bytes up, %d bytes down before Sync", N, dev.bytes(g, false), dev.bytes(g, true))
	g.Sync()
	wantEach(t, "resident, downloads after Sync", dev.perTensor(g, true), 1)
	sameGrads(t, "resident after Sync", g, ref[N])
	g.Sync() // nothing new on the device: no copy
	wantEach(t, "second Sync, downloads", dev.perTensor(g, true), 1)

	// After Sync G is the caller's: a host-side write is what the next pass
	// starts from (it re-uploads once).
	dev.reset()
	for _, v := range g.G {
		clear(v)
	}
	lossAndGrad(t, m, seqs[0], g)
	lossAndGrad(t, m, seqs[1], g)
	wantEach(t, "pass after Sync, uploads", dev.perTensor(g, false), 1)
	g.Sync()
	sameGrads(t, "host write after Sync", g, ref[2])

	// Zero with gradients pending on the device clears them there: nothing
	// is downloaded or uploaded for it.
	dev.reset()
	lossAndGrad(t, m, seqs[2], g)
	g.Zero()
	lossAndGrad(t, m, seqs[0], g)
	wantEach(t, "Zero, uploads", dev.perTensor(g, false), 1) // the one after Sync
	wantEach(t, "Zero, downloads", dev.perTensor(g, true), 0)
	g.Sync()
	sameGrads(t, "Zero on the device", g, ref[1])

	// Pass.Backward takes the same path.
	dev.reset()
	g.Zero()
	p, err := m.Forward(seqs[0], &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	dl := make([]float32, len(p.Logits))
	for r, tg := range nextTokenTargets(seqs[0]) {
		if tg >= 0 {
			dl[r*m.Config.Vocab+tg] = 1
		}
	}
	if err := p.Backward(dl, g); err != nil {
		t.Fatal(err)
	}
	p.Release()
	wantEach(t, "Backward, uploads", dev.perTensor(g, false), 0)
	wantEach(t, "Backward, downloads", dev.perTensor(g, true), 0)
	g.Sync()
	want := m.NewGrads()
	m.SetBackend(backend.CPU())
	p, err = m.Forward(seqs[0], &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Backward(dl, want); err != nil {
		t.Fatal(err)
	}
	p.Release()
	sameGrads(t, "resident Backward", g, want.G)

	// Resident(false) syncs, and passes copy per sequence again.
	m.SetBackend(dev)
	g.Zero()
	lossAndGrad(t, m, seqs[0], g)
	dev.reset()
	g.Resident(false)
	wantEach(t, "Resident(false), downloads", dev.perTensor(g, true), 1)
	sameGrads(t, "Resident(false)", g, ref[1])
	lossAndGrad(t, m, seqs[1], g)
	wantEach(t, "off again, uploads", dev.perTensor(g, false), 1)
	wantEach(t, "off again, downloads", dev.perTensor(g, true), 2)
	sameGrads(t, "off again", g, ref[2])
}

// TestResidentGradsSetBackend: copies belong to one backend; a pass on
// another syncs them into G from the old one and starts over on the new.
func TestResidentGradsSetBackend(t *testing.T) {
	m, seqs, ref := residentSetup(t)
	a, b := newDevBackend("device-a", false), newDevBackend("device-b", false)
	g := m.NewGrads()
	g.Resident(true)
	m.SetBackend(a)
	lossAndGrad(t, m, seqs[0], g)
	lossAndGrad(t, m, seqs[1], g)
	m.SetBackend(b)
	lossAndGrad(t, m, seqs[2], g)
	wantEach(t, "old backend, downloads at the switch", a.perTensor(g, true), 1)
	wantEach(t, "new backend, uploads", b.perTensor(g, false), 1)
	// A pass made on a before the switch still accumulates on a.
	m.SetBackend(a)
	p, err := m.Forward(seqs[3], &model.ForwardOptions{KeepActivations: true})
	if err != nil {
		t.Fatal(err)
	}
	m.SetBackend(b)
	dl := make([]float32, len(p.Logits))
	if err := p.Backward(dl, g); err != nil { // a zero gradient: values unchanged
		t.Fatal(err)
	}
	p.Release()
	wantEach(t, "b synced when the pass on a came", b.perTensor(g, true), 1)
	wantEach(t, "a re-uploaded", a.perTensor(g, false), 2)
	m.SetBackend(backend.CPU())
	lossAndGrad(t, m, seqs[3], g)
	wantEach(t, "a synced when the CPU pass came", a.perTensor(g, true), 2)
	g.Sync()
	sameGrads(t, "across backends", g, ref[4])
}

// TestResidentGradsCPU: on the CPU backend resident mode aliases G, so
// nothing is ever copied and G is current after every pass.
func TestResidentGradsCPU(t *testing.T) {
	m, seqs, ref := residentSetup(t)
	cpu := newDevBackend("cpu-f32", true)
	m.SetBackend(cpu)
	g := m.NewGrads()
	g.Resident(true)
	for k, ids := range seqs {
		lossAndGrad(t, m, ids, g)
		sameGrads(t, "CPU resident, before Sync", g, ref[k+1])
	}
	g.Sync()
	g.Zero()
	lossAndGrad(t, m, seqs[0], g)
	g.Sync()
	sameGrads(t, "CPU resident after Zero", g, ref[1])
	wantEach(t, "CPU resident, FromHost calls", cpu.perTensor(g, false), 1)
	wantEach(t, "CPU resident, downloads", cpu.perTensor(g, true), 0)
}
