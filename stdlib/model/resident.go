package model

import "esa/stdlib/backend"

// Resident gradients.
//
// A backward pass accumulates into backend buffers. By default each pass
// gets them with FromHost(G[i]) and hands them back with Download: free on
// the CPU backend, where FromHost aliases G, but on a device backend a copy
// of every parameter's gradient in each direction per sequence (2×32 GB per
// sequence for an 8B model). In resident mode the buffers are made once and
// kept in g, passes accumulate into them on the device, and Sync copies
// them into G when the caller wants to read.
//
// The contract, in resident mode:
//
//   - After a pass, the backend's copies are authoritative and G may be
//     stale (on a device backend it is): read or write G only after Sync.
//   - After Sync, G is authoritative: the caller may read and write it, and
//     the next pass uploads it once before accumulating.
//   - Zero clears G and the device copies alike, so it may be called at any
//     time, and the next pass uploads nothing.
//   - The copies belong to the backend of the pass that made them. A pass on
//     another backend (after Model.SetBackend) first syncs them into G from
//     the old backend, which must still be usable, and drops them.
//   - Resident(false) syncs and drops them (device memory is freed when the
//     buffers are collected).
//
// On the CPU float32 backend the buffers are G's own memory, so resident
// mode copies nothing and Sync is free. Like the passes that add into it, a
// Grads is for one goroutine at a time.

// deviceGrads is the resident state of a Grads.
type deviceGrads struct {
	be  backend.Backend
	buf []backend.Buffer // one per G[i] on be; nil until the first pass
	// alias: every buffer is G's own memory (CPU float32), so nothing is
	// ever copied either way.
	alias bool
	// fresh: buf holds G's current values, so a pass may use it without
	// uploading. Sync clears it because the caller may then write G.
	fresh bool
	// ahead: buf holds accumulations G lacks, which Sync downloads.
	ahead bool
}

// Resident turns resident mode on or off (see above). Turning it off syncs
// and releases the backend copies; turning it on copies nothing until the
// next pass. Calling it with the current state does nothing.
func (g *Grads) Resident(on bool) {
	switch {
	case on && g.dev == nil:
		g.dev = &deviceGrads{}
	case !on && g.dev != nil:
		g.Sync()
		g.dev = nil
	}
}

// Sync makes G hold the accumulated gradients, downloading them from the
// backend in resident mode; afterwards G is authoritative (the caller may
// read and write it) until the next pass. Outside resident mode, and when
// nothing accumulated since the last Sync, it does nothing.
func (g *Grads) Sync() {
	d := g.dev
	if d == nil || d.buf == nil {
		return
	}
	if d.ahead && !d.alias {
		for i, v := range g.G {
			d.be.Download(v, d.buf[i])
		}
	}
	d.ahead = false
	d.fresh = d.alias
}

// zeroDevice is Zero's part for the backend copies: zeroing them keeps them
// equal to the cleared G, which saves the next pass its upload.
func (g *Grads) zeroDevice() {
	d := g.dev
	if d == nil || d.buf == nil {
		return
	}
	if !d.alias {
		for _, b := range d.buf {
			d.be.Zero(b)
		}
	}
	d.ahead = false
	d.fresh = true
}

// buffers returns the buffers a backward on be accumulates into, and the
// function to call once it has run.
func (g *Grads) buffers(be backend.Backend) (gb []backend.Buffer, done func()) {
	d := g.dev
	if d == nil {
		// Per pass: in and out again.
		gb = make([]backend.Buffer, len(g.G))
		for i, v := range g.G {
			gb[i] = be.FromHost(v)
		}
		return gb, func() {
			for i, v := range g.G {
				be.Download(v, gb[i])
			}
		}
	}
	if d.buf != nil && d.be != be {
		g.Sync()
		d.buf = nil
	}
	switch {
	case d.buf == nil:
		d.be = be
		d.buf = make([]backend.Buffer, len(g.G))
		d.alias = true
		for i, v := range g.G {
			d.buf[i] = be.FromHost(v)
			d.alias = d.alias && aliases(d.buf[i], v)
		}
	case !d.fresh:
		for i, v := range g.G {
			be.Upload(d.buf[i], v)
		}
	}
	d.fresh = true
	// Set before the pass: should it panic half-way, Sync still fetches
	// whatever the device holds.
	d.ahead = !d.alias
	return d.buf, func() {}
}

// aliases reports whether b is h's own memory (FromHost on the CPU float32
// backend), so that copying between them would copy a slice onto itself.
func aliases(b backend.Buffer, h []float32) bool {
	if len(h) == 0 {
		return true // nothing to copy
	}
	v, ok := backend.HostF32(b)
	return ok && len(v) > 0 && &v[0] == &h[0]
}
