//go:build cuda

package gpu

import (
	"context"
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/esa/rank"
)

// Select implements Device.Select with radixSelect over the kernels of
// select.cu.
func (b *cudaBackend) Select(ctx context.Context, src []ScoreTensor, opt rank.Options) (top, bottom *rank.Set, err error) {
	names := make([]string, len(src))
	for j, s := range src {
		if err := s.check(); err != nil {
			return nil, nil, err
		}
		if s.Scores != nil {
			if d, ok := s.Scores.(*dbuf); !ok || d.be != b {
				return nil, nil, fmt.Errorf("gpu: %s: Scores is a %T, not a buffer of %s", s.Name, s.Scores, b.Name())
			}
		}
		names[j] = s.Name
	}
	b.enter()
	defer b.exit()
	sel := &cudaSelector{b: b, ctx: ctx, src: src, w: make([]*devTensor, len(src))}
	for j, s := range src {
		if s.Weight != nil && s.Metric != MetricScores {
			sel.w[j] = b.weight(s.Weight)
		}
	}
	return selectSets(sel, names, opt)
}

// cudaSelector is selector on the device, for one Select call (mu held).
type cudaSelector struct {
	b   *cudaBackend
	ctx context.Context
	src []ScoreTensor
	w   []*devTensor
}

func (s *cudaSelector) length(t int) int64 { return s.src[t].length() }

// scoreArgs are the kernels' (g, w, wdt, metric, n) arguments for tensor t.
func (s *cudaSelector) scoreArgs(t int) []arg {
	var g, w cu.DevicePtr
	var dt int64
	if s.src[t].Scores != nil {
		g = s.src[t].Scores.(*dbuf).ptr
	}
	if d := s.w[t]; d != nil {
		w, dt = d.blk.ptr, int64(d.dt)
	}
	return []arg{argP(g), argP(w), argI(dt), argI(int64(s.src[t].Metric)), argI(s.length(t))}
}

// args concatenates argument lists.
func args(parts ...[]arg) []arg {
	var out []arg
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// read copies n bytes of device memory at ptr into v's memory.
func (s *cudaSelector) read(dst unsafe.Pointer, ptr cu.DevicePtr, n int64) error {
	if n == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(dst, ptr, n); err != nil {
		return fmt.Errorf("gpu: %s: reading selection results: %v", s.b.Name(), err)
	}
	return nil
}

func (s *cudaSelector) hist(ts []int, bottom bool, shift, width uint, prefix, mask uint32) ([]uint64, []uint64, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, nil, err
	}
	bins := 1 << width
	mem := s.b.scratch(&s.b.small, 8*int64(2048+len(ts)))
	if err := cu.MemsetD32(mem, 0, 2*int64(2048+len(ts))); err != nil {
		return nil, nil, fmt.Errorf("gpu: %s: %v", s.b.Name(), err)
	}
	for j, t := range ts {
		n := s.length(t)
		// Few blocks, each covering many scores: every block merges its
		// shared-memory histogram into the global one with up to 2048 atomics.
		blocks := int(min((n+1023)/1024, 1024))
		s.b.launch(kSelectHist, blocks, 1, 256, args([]arg{argP(mem), argP(mem + cu.DevicePtr(8*(2048+j)))},
			s.scoreArgs(t), []arg{argB(bottom), argI(int64(shift)), argI(int64(width)), argI(int64(prefix)), argI(int64(mask))})...)
	}
	h := make([]uint64, bins)
	nans := make([]uint64, len(ts))
	if err := s.read(unsafe.Pointer(&h[0]), mem, 8*int64(bins)); err != nil {
		return nil, nil, err
	}
	if err := s.read(unsafe.Pointer(unsafe.SliceData(nans)), mem+8*2048, 8*int64(len(ts))); err != nil {
		return nil, nil, err
	}
	return h, nans, nil
}

// results allocates room for n hits plus a counter: keys, scores, counter.
func (s *cudaSelector) results(n int) (*block, cu.DevicePtr, cu.DevicePtr, cu.DevicePtr) {
	blk := s.b.allocBlock(12*int64(n) + 8)
	keys := blk.ptr
	count := keys + cu.DevicePtr(8*n)
	scores := count + 8
	if err := cu.MemsetD32(count, 0, 2); err != nil {
		s.b.fail("cuMemsetD32", err)
	}
	return blk, keys, scores, count
}

// download reads n hits from keys and scores.
func (s *cudaSelector) download(keys, scores cu.DevicePtr, n int) ([]hit, error) {
	k := make([]uint64, n)
	v := make([]float32, n)
	if err := s.read(unsafe.Pointer(unsafe.SliceData(k)), keys, 8*int64(n)); err != nil {
		return nil, err
	}
	if err := s.read(unsafe.Pointer(unsafe.SliceData(v)), scores, 4*int64(n)); err != nil {
		return nil, err
	}
	out := make([]hit, n)
	for j := range out {
		out[j] = hit{k[j], v[j]}
	}
	return out, nil
}

func (s *cudaSelector) gatherAbove(ts []int, bottom bool, thresh uint32, max int) ([]hit, error) {
	blk, keys, scores, count := s.results(max)
	defer runtime.KeepAlive(blk) // the allocation must outlive the reads
	for _, t := range ts {
		s.b.grid(kSelectGatherAbove, s.length(t), args([]arg{argP(keys), argP(scores), argP(count)}, s.scoreArgs(t),
			[]arg{argB(bottom), argI(int64(thresh)), argI(int64(t)), argI(int64(max))})...)
	}
	var n uint64
	if err := s.read(unsafe.Pointer(&n), count, 8); err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("gpu: %d scores above the selection threshold, room for %d (device inconsistency)", n, max)
	}
	return s.download(keys, scores, int(n))
}

func (s *cudaSelector) countEq(t int, bottom bool, thresh uint32) ([]uint64, error) {
	n := s.length(t)
	chunks := int((n + selectChunk - 1) / selectChunk)
	blk := s.b.allocBlock(8 * int64(chunks))
	s.b.launch(kSelectCountEq, chunks, 1, 256, args([]arg{argP(blk.ptr)}, s.scoreArgs(t),
		[]arg{argB(bottom), argI(int64(thresh)), argI(selectChunk)})...)
	out := make([]uint64, chunks)
	if err := s.read(unsafe.Pointer(unsafe.SliceData(out)), blk.ptr, 8*int64(chunks)); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *cudaSelector) gatherEq(t int, bottom bool, thresh uint32, off []uint64, limit uint64) ([]hit, error) {
	offs := make([]int64, len(off))
	for j, o := range off {
		offs[j] = int64(o)
	}
	dev := s.b.upInts(offs)
	blk, keys, scores, _ := s.results(int(limit))
	defer runtime.KeepAlive(blk)
	s.b.launch(kSelectGatherEq, len(off), 1, 256, args([]arg{argP(keys), argP(scores), argP(dev[0])}, s.scoreArgs(t),
		[]arg{argB(bottom), argI(int64(thresh)), argI(selectChunk), argI(int64(t)), argI(int64(limit)), argI(0)})...)
	return s.download(keys, scores, int(limit))
}
