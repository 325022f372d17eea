package model

import (
	"fmt"
	"unsafe"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// Changed tells the backends that elements idx (flat, row-major offsets) of
// the parameter at index i changed in place, and nothing else of it did.
// It is Invalidate for a few weights: a backend that implements
// backend.Patcher (the CUDA backend) re-sends just those elements to its
// copy — O(len(idx)) instead of re-uploading the whole tensor at its next
// use — and any other backend drops its copies as Invalidate does (the CPU
// backends keep none). The row views Phi-3's layers compute with (q, k, v
// of qkv_proj; gate, up of gate_up_proj) are separate tensors to a backend,
// with copies of their own: each is patched with the indices that fall in
// its rows, shifted to its own offsets.
//
// An index outside the parameter is an error; the backends' copies of the
// parameter and its views are then dropped, so that nothing stale is
// computed with whatever the caller changed.
func (m *Model) Changed(i int, idx []int64) error {
	if i < 0 || i >= len(m.Params) {
		return fmt.Errorf("model: Changed: index %d outside the %d parameters", i, len(m.Params))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.Params[i]
	n := int64(p.Len())
	for j, e := range idx {
		if e < 0 || e >= n {
			m.invalidateLocked(i)
			return fmt.Errorf("model: Changed %s: element %d (entry %d) outside [0, %d)", p.Name, e, j, n)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	for _, e := range []*engine{m.e32, m.e64} {
		if e == nil {
			continue
		}
		pt, ok := e.be.(backend.Patcher)
		if !ok {
			e.be.Invalidate(p)
			for _, v := range m.views[i] {
				e.be.Invalidate(v)
			}
			continue
		}
		patch(e.be, pt, p, idx)
		for _, v := range m.views[i] {
			off, ok := viewOffset(p, v)
			if !ok {
				// Not a block of p's bytes (never so for views New or
				// ReplaceParam bound): drop its copy rather than guess.
				e.be.Invalidate(v)
				continue
			}
			end := off + int64(v.Len())
			var local []int64
			for _, x := range idx {
				if x >= off && x < end {
					local = append(local, x-off)
				}
			}
			if len(local) > 0 {
				patch(e.be, pt, v, local)
			}
		}
	}
	return nil
}

// patch re-sends elements idx of t to be's copy. Should the backend refuse,
// its copy is dropped instead: the next use then uploads t whole and still
// computes with the new values, at the cost Patch was to save.
func patch(be backend.Backend, pt backend.Patcher, t *tensor.Tensor, idx []int64) {
	if err := pt.Patch(t, idx); err != nil {
		be.Invalidate(t)
	}
}

// viewOffset is the element offset of the row view v inside p's bytes, and
// whether v is such a view at all (same dtype, its bytes a block of p's at
// an element boundary). Views alias p's memory (rowView), so the offset is
// the distance between the two byte slices.
func viewOffset(p, v *tensor.Tensor) (int64, bool) {
	if len(p.Data) == 0 || len(v.Data) == 0 || v.DType != p.DType {
		return 0, false
	}
	d := int64(uintptr(unsafe.Pointer(unsafe.SliceData(v.Data))) - uintptr(unsafe.Pointer(unsafe.SliceData(p.Data))))
	es := int64(p.DType.Size())
	if d < 0 || d%es != 0 || d+int64(len(v.Data)) > int64(len(p.Data)) {
		return 0, false
	}
	return d / es, true
}
