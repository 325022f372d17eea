//go:build cuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/tensor"
)

// checkIndex validates element indices (and bit numbers, when bits is not
// nil) against t.
func checkIndex(t *tensor.Tensor, idx []int64, bits []int) error {
	n := int64(t.Len())
	for j, e := range idx {
		if e < 0 || e >= n {
			return fmt.Errorf("gpu: %s: element %d (entry %d) outside [0, %d)", t.Name, e, j, n)
		}
	}
	if bits == nil {
		return nil
	}
	if len(bits) != len(idx) {
		return fmt.Errorf("gpu: %s: %d bit numbers for %d elements", t.Name, len(bits), len(idx))
	}
	nb := 8 * t.DType.Size()
	for j, bit := range bits {
		if bit < 0 || bit >= nb {
			return fmt.Errorf("gpu: %s: bit %d (entry %d) outside a %s element's bits 0…%d", t.Name, bit, j, t.DType, nb-1)
		}
	}
	return nil
}

func (b *cudaBackend) FlipBits(t *tensor.Tensor, idx []int64, bits []int) error {
	if err := checkIndex(t, idx, bits); err != nil {
		return err
	}
	b.enter()
	defer b.exit()
	es := int64(t.DType.Size())
	for j, e := range idx {
		t.Data[e*es+int64(bits[j]>>3)] ^= 1 << (bits[j] & 7)
	}
	w := b.weights[t]
	if w == nil || len(idx) == 0 {
		return nil // no device copy: the next use uploads the flipped bytes
	}
	dev := b.upInts(idx, ints64(bits))
	b.grid(kFlipBits, int64(len(idx)), argP(w.blk.ptr), argI(es), argP(dev[0]), argP(dev[1]), argI(int64(len(idx))))
	return nil
}

func (b *cudaBackend) Patch(t *tensor.Tensor, idx []int64) error {
	if err := checkIndex(t, idx, nil); err != nil {
		return err
	}
	b.enter()
	defer b.exit()
	w := b.weights[t]
	if w == nil || len(idx) == 0 {
		return nil
	}
	es := int64(t.DType.Size())
	vals := make([]byte, 0, int64(len(idx))*es)
	for _, e := range idx {
		vals = append(vals, t.Data[e*es:(e+1)*es]...)
	}
	dev := b.upRaw(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(idx))), 8*len(idx)), vals)
	b.grid(kPatch, int64(len(vals)), argP(w.blk.ptr), argI(es), argP(dev[0]), argP(dev[1]), argI(int64(len(idx))))
	return nil
}

func (b *cudaBackend) DeviceChecksum(t *tensor.Tensor) (uint64, error) {
	b.enter()
	defer b.exit()
	w := b.weight(t)
	sum := b.scratch(&b.small, 8)
	if err := cu.MemsetD32(sum, 0, 2); err != nil {
		return 0, fmt.Errorf("gpu: %s: %v", b.Name(), err)
	}
	n := int64(len(t.Data))
	b.grid(kChecksum, (n+7)/8, argP(sum), argP(w.blk.ptr), argI(n))
	var v uint64
	if err := cu.MemcpyDtoH(unsafe.Pointer(&v), sum, 8); err != nil {
		return 0, fmt.Errorf("gpu: %s: checksum of %s: %v", b.Name(), t.Name, err)
	}
	return finishChecksum(v, n), nil
}
