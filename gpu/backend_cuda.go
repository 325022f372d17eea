//go:build cuda

package gpu

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// cudaBackend is Device on one GPU. Every call takes mu, pins its goroutine
// to an OS thread and makes the device's primary context current there
// (CUDA contexts are per thread; goroutines move between threads), so the
// backend may be used from several goroutines — calls are serialised. All
// work goes to the legacy default stream, so kernels, copies and cuBLAS run
// in call order and a buffer can be reused as soon as a call returns.
type cudaBackend struct {
	mu      sync.Mutex
	ordinal int
	dev     cu.Device
	ctx     cu.CUContext
	fns     [numKernels]cu.Function
	mods    []cu.Module
	blas    *cublas
	blasWhy string   // why the built-in GEMM kernel is used
	mode    gemmMode // ESA_GPU_GEMM; the built-in kernel is fp32 whatever it says
	sync    bool     // ESA_CUDA_SYNC=1: synchronise after every launch
	closed  bool

	weights map[*tensor.Tensor]*devTensor
	wconv   *block    // a weight widened to float32 for a GEMM
	half    [2]*block // float32 activations rounded to bf16 for a GEMM (its A, its B)
	ints    *block    // uploaded ids, targets and index lists
	small   *block    // nll, histograms and other small results
	attn    *block    // attention backward's D_i = rowsum(dO_i ∘ O_i) [heads, t]

	free    map[int64][]cu.DevicePtr // released allocations by size, for reuse
	pendMu  sync.Mutex
	pending []freed // allocations whose buffers were garbage collected
}

// block is one device allocation. Buffers and weight copies point into it
// and keep it reachable; when none does, a cleanup hands it back for reuse.
type block struct {
	ptr   cu.DevicePtr
	bytes int64
}

type freed struct {
	ptr   cu.DevicePtr
	bytes int64
}

// dbuf is a backend.Buffer: n float32 at ptr, inside blk.
type dbuf struct {
	ptr cu.DevicePtr
	n   int
	blk *block
	be  *cudaBackend
}

func (d *dbuf) Len() int { return d.n }

// devTensor is the device copy of a weight tensor in its stored dtype.
type devTensor struct {
	blk *block
	dt  tensor.DType
	n   int
}

// Devices counts the CUDA devices.
func Devices() (int, error) { return cu.NumDevices() }

// Available says whether CUDA device 0 can be used, and if not, why.
func Available() (name string, ok bool, why string) {
	n, err := cu.NumDevices()
	switch {
	case err != nil:
		return "", false, fmt.Sprintf("CUDA driver: %v", err)
	case n == 0:
		return "", false, "no CUDA device found on this machine"
	}
	d, err := cu.GetDevice(0)
	if err != nil {
		return "", false, fmt.Sprintf("CUDA device 0: %v", err)
	}
	name, err = d.Name()
	if err != nil {
		return "", false, fmt.Sprintf("CUDA device 0: %v", err)
	}
	return name, true, ""
}

// New opens CUDA device ordinal: it retains the device's primary context
// (the one the CUDA runtime, and so cuBLAS, uses too), JIT-loads the PTX
// modules and loads cuBLAS if it can. ESA_GPU_GEMM chooses the GEMM
// precision (fp32, tf32, bf16: see gemmMode); another value is an error.
func New(ordinal int) (Device, error) {
	mode, err := parseGEMMMode(os.Getenv(gemmModeEnv))
	if err != nil {
		return nil, fmt.Errorf("gpu: %v", err)
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("gpu: CUDA driver: %v", err)
	}
	if ordinal < 0 || ordinal >= n {
		if n == 0 {
			return nil, fmt.Errorf("gpu: no CUDA device found on this machine")
		}
		return nil, fmt.Errorf("gpu: no CUDA device %d (this machine has cuda:0 … cuda:%d)", ordinal, n-1)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("gpu: cuda:%d: %v", ordinal, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("gpu: cuda:%d: retaining the primary context: %v", ordinal, err)
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		return nil, fmt.Errorf("gpu: cuda:%d: %v", ordinal, err)
	}
	b := &cudaBackend{ordinal: ordinal, dev: dev, ctx: ctx, weights: map[*tensor.Tensor]*devTensor{},
		free: map[int64][]cu.DevicePtr{}, sync: os.Getenv("ESA_CUDA_SYNC") == "1", mode: mode}
	if err := b.loadKernels(); err != nil {
		b.release()
		return nil, err
	}
	if b.blas, err = loadCublas(mode != gemmFP32); err != nil {
		b.blasWhy = err.Error()
	}
	return b, nil
}

// loadKernels JIT-compiles the embedded PTX for this device.
func (b *cudaBackend) loadKernels() error {
	mods, err := ptxModules()
	if err != nil {
		return fmt.Errorf("gpu: embedded PTX: %v", err)
	}
	loaded := map[string]cu.Module{}
	names := make([]string, 0, len(mods))
	for name := range mods {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// The JIT's own error log says what it rejected (PTX version,
		// target, a bad instruction).
		logBuf := &cu.JITErrorLogBuffer{Buffer: make([]byte, 16<<10)}
		m, err := cu.LoadDataEx(mods[name], logBuf)
		if err != nil {
			msg := strings.TrimSpace(string(bytes.TrimRight(logBuf.Buffer, "\x00")))
			return fmt.Errorf("gpu: cuda:%d: loading kernels/%s.ptx (driver JIT): %v: %s", b.ordinal, name, err, msg)
		}
		b.mods = append(b.mods, m)
		loaded[name] = m
	}
	for k, s := range kernelSpecs {
		m, ok := loaded[s.module]
		if !ok {
			return fmt.Errorf("gpu: kernel %s: no module kernels/%s.ptx", s.name, s.module)
		}
		if b.fns[k], err = m.Function(s.name); err != nil {
			return fmt.Errorf("gpu: kernel %s in kernels/%s.ptx: %v", s.name, s.module, err)
		}
	}
	return nil
}

// enter and exit bracket every call (see cudaBackend).
func (b *cudaBackend) enter() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		panic(fmt.Sprintf("gpu: cuda:%d used after Close", b.ordinal))
	}
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		runtime.UnlockOSThread()
		b.mu.Unlock()
		panic(fmt.Sprintf("gpu: cuda:%d: making the context current: %v", b.ordinal, err))
	}
}

func (b *cudaBackend) exit() {
	runtime.UnlockOSThread()
	b.mu.Unlock()
}

// fail panics with the failing operation: the Backend interface has no
// errors, and a CUDA error there is a broken device or a bug, not input.
func (b *cudaBackend) fail(what string, err error) {
	panic(fmt.Sprintf("gpu: cuda:%d: %s: %v", b.ordinal, what, err))
}

func (b *cudaBackend) Name() string { return fmt.Sprintf("cuda:%d", b.ordinal) }

// GEMM names the library and the precision, as results and esa doctor
// show them.
func (b *cudaBackend) GEMM() string {
	if b.blas == nil {
		s := "built-in SGEMM kernel (" + b.blasWhy + "), fp32"
		if b.mode != gemmFP32 {
			s += fmt.Sprintf(" (%s=%s needs cuBLAS)", gemmModeEnv, b.mode)
		}
		return s
	}
	s := b.blas.String() + ", "
	switch b.mode {
	case gemmTF32:
		return s + "tf32 (cublasGemmEx, TF32 tensor cores, float32 accumulation)"
	case gemmBF16:
		return s + "bf16 (cublasGemmEx: BF16 weights × activations rounded to bf16, float32 accumulation; other weights TF32)"
	}
	return s + "fp32 (cublasSgemm)"
}

func (b *cudaBackend) MemInfo() (free, total int64) {
	b.enter()
	defer b.exit()
	free, total, err := cu.MemInfo()
	if err != nil {
		b.fail("cuMemGetInfo", err)
	}
	return free, total
}

func (b *cudaBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return err
	}
	b.release()
	b.closed = true
	return nil
}

// release frees what the backend holds (context current, mu held). Buffers
// still referenced by callers become invalid.
func (b *cudaBackend) release() {
	b.blas.close()
	for _, m := range b.mods {
		m.Unload()
	}
	b.mods = nil
	b.weights = map[*tensor.Tensor]*devTensor{}
	b.wconv, b.half, b.ints, b.small, b.attn = nil, [2]*block{}, nil, nil, nil
	runtime.GC() // hand back unreachable buffers before the context goes
	b.drainPending()
	b.freeCached()
	b.dev.ReleasePrimaryCtx()
}

// ---- memory ----

// roundAlloc rounds a request up so that allocations of similar size share
// the free lists (and every allocation is 8-byte padded for word access).
func roundAlloc(n int64) int64 {
	if n <= 256 {
		return 256
	}
	return (n + 255) &^ 255
}

// allocBlock returns an allocation of at least n bytes, reusing a released
// one of the same size when there is one (contents undefined). On running
// out of memory it returns cached allocations to the driver, lets the
// garbage collector release unreachable buffers and tries again.
func (b *cudaBackend) allocBlock(n int64) *block {
	size := roundAlloc(n)
	b.drainPending()
	var ptr cu.DevicePtr
	if l := b.free[size]; len(l) > 0 {
		ptr, b.free[size] = l[len(l)-1], l[:len(l)-1]
	} else {
		var err error
		ptr, err = cu.MemAlloc(size)
		for try := 0; err != nil && errors.Is(err, cu.OutOfMemory) && try < 3; try++ {
			b.freeCached()
			runtime.GC()
			time.Sleep(time.Duration(10<<try) * time.Millisecond) // cleanups run on their own goroutine
			b.drainPending()
			if l := b.free[size]; len(l) > 0 {
				ptr, b.free[size], err = l[len(l)-1], l[:len(l)-1], nil
				break
			}
			b.freeCached()
			ptr, err = cu.MemAlloc(size)
		}
		if err != nil {
			free, total, _ := cu.MemInfo()
			b.fail(fmt.Sprintf("allocating %.3f GB (%.3f GB free of %.3f GB)", float64(size)/1e9, float64(free)/1e9, float64(total)/1e9), err)
		}
	}
	blk := &block{ptr: ptr, bytes: size}
	runtime.AddCleanup(blk, func(f freed) {
		b.pendMu.Lock()
		b.pending = append(b.pending, f)
		b.pendMu.Unlock()
	}, freed{ptr, size})
	return blk
}

// drainPending moves collected allocations into the free lists.
func (b *cudaBackend) drainPending() {
	b.pendMu.Lock()
	p := b.pending
	b.pending = nil
	b.pendMu.Unlock()
	for _, f := range p {
		b.free[f.bytes] = append(b.free[f.bytes], f.ptr)
	}
}

// freeCached returns every free-listed allocation to the driver.
func (b *cudaBackend) freeCached() {
	for size, l := range b.free {
		for _, p := range l {
			cu.MemFree(p)
		}
		delete(b.free, size)
	}
}

// scratch returns *slot grown to at least n bytes (contents undefined).
func (b *cudaBackend) scratch(slot **block, n int64) cu.DevicePtr {
	if *slot == nil || (*slot).bytes < n {
		*slot = nil
		*slot = b.allocBlock(max(n, 1<<20))
	}
	return (*slot).ptr
}

// buf unwraps a buffer of this backend (nil stays 0).
func (b *cudaBackend) buf(x backend.Buffer) *dbuf {
	if x == nil {
		return nil
	}
	d, ok := x.(*dbuf)
	if !ok || d.be != b {
		panic(fmt.Sprintf("gpu: cuda:%d: buffer %T belongs to another backend", b.ordinal, x))
	}
	return d
}

// ptr is the device address of x, or 0 for nil.
func (b *cudaBackend) ptr(x backend.Buffer) cu.DevicePtr {
	if d := b.buf(x); d != nil {
		return d.ptr
	}
	return 0
}

// need panics when x holds fewer than n elements (a caller bug that would
// otherwise corrupt device memory silently).
func (b *cudaBackend) need(x backend.Buffer, n int, what string) {
	d := b.buf(x)
	if d == nil {
		panic(fmt.Sprintf("gpu: cuda:%d: %s is nil", b.ordinal, what))
	}
	if d.n < n {
		panic(fmt.Sprintf("gpu: cuda:%d: %s holds %d elements, the call needs %d", b.ordinal, what, d.n, n))
	}
}

func (b *cudaBackend) Alloc(n int) backend.Buffer {
	b.enter()
	defer b.exit()
	return b.alloc(n)
}

func (b *cudaBackend) alloc(n int) *dbuf {
	if n <= 0 {
		return &dbuf{be: b}
	}
	blk := b.allocBlock(4 * int64(n))
	if err := cu.MemsetD32(blk.ptr, 0, int64(n)); err != nil {
		b.fail("cuMemsetD32", err)
	}
	return &dbuf{ptr: blk.ptr, n: n, blk: blk, be: b}
}

func (b *cudaBackend) Slice(x backend.Buffer, off, n int) backend.Buffer {
	d := b.buf(x)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("gpu: cuda:%d: slice [%d, %d) of a buffer of %d", b.ordinal, off, off+n, d.n))
	}
	return &dbuf{ptr: d.ptr + cu.DevicePtr(4*off), n: n, blk: d.blk, be: b}
}

func (b *cudaBackend) Zero(x backend.Buffer) {
	b.enter()
	defer b.exit()
	if d := b.buf(x); d.n > 0 {
		if err := cu.MemsetD32(d.ptr, 0, int64(d.n)); err != nil {
			b.fail("cuMemsetD32", err)
		}
	}
}

func (b *cudaBackend) Upload(dst backend.Buffer, src []float32) {
	b.enter()
	defer b.exit()
	b.upload(dst, src)
}

func (b *cudaBackend) upload(dst backend.Buffer, src []float32) {
	b.need(dst, len(src), "Upload destination")
	if len(src) == 0 {
		return
	}
	if err := cu.MemcpyHtoD(b.ptr(dst), unsafe.Pointer(&src[0]), 4*int64(len(src))); err != nil {
		b.fail("cuMemcpyHtoD", err)
	}
}

func (b *cudaBackend) Download(dst []float32, src backend.Buffer) {
	b.enter()
	defer b.exit()
	b.download(dst, src)
}

func (b *cudaBackend) download(dst []float32, src backend.Buffer) {
	b.need(src, len(dst), "Download source")
	if len(dst) == 0 {
		return
	}
	// Synchronous: it waits for the kernels before it, so a kernel's
	// failure surfaces here.
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), b.ptr(src), 4*int64(len(dst))); err != nil {
		b.fail("cuMemcpyDtoH (or a kernel before it)", err)
	}
}

func (b *cudaBackend) FromHost(h []float32) backend.Buffer {
	b.enter()
	defer b.exit()
	d := b.alloc(len(h))
	b.upload(d, h)
	return d
}

// Upload64 and Download64 implement backend.Host64 for the host-side ops of
// the families that still have some (model/hostops.go): values go through
// float32, the device's precision, so Upload64 rounds.
func (b *cudaBackend) Upload64(dst backend.Buffer, src []float64) {
	f := make([]float32, len(src))
	for i, v := range src {
		f[i] = float32(v)
	}
	b.Upload(dst, f)
}

func (b *cudaBackend) Download64(dst []float64, src backend.Buffer) {
	f := make([]float32, len(dst))
	b.Download(f, src)
	for i, v := range f {
		dst[i] = float64(v)
	}
}

func (b *cudaBackend) Copy(dst, src backend.Buffer) {
	b.enter()
	defer b.exit()
	n := b.buf(src).n
	b.need(dst, n, "Copy destination")
	if n > 0 {
		if err := cu.MemcpyDtoD(b.ptr(dst), b.ptr(src), 4*int64(n)); err != nil {
			b.fail("cuMemcpyDtoD", err)
		}
	}
}

// upRaw uploads byte lists into the ints scratch, each at an 8-byte aligned
// offset, and returns the device address of each.
func (b *cudaBackend) upRaw(parts ...[]byte) []cu.DevicePtr {
	var total int64
	for _, l := range parts {
		total += (int64(len(l)) + 7) &^ 7
	}
	base := b.scratch(&b.ints, total)
	out := make([]cu.DevicePtr, len(parts))
	off := cu.DevicePtr(0)
	for i, l := range parts {
		out[i] = base + off
		if len(l) > 0 {
			if err := cu.MemcpyHtoD(out[i], unsafe.Pointer(&l[0]), int64(len(l))); err != nil {
				b.fail("cuMemcpyHtoD", err)
			}
		}
		off += cu.DevicePtr((len(l) + 7) &^ 7)
	}
	return out
}

// upInts uploads integer lists (see upRaw).
func (b *cudaBackend) upInts(lists ...[]int64) []cu.DevicePtr {
	parts := make([][]byte, len(lists))
	for i, l := range lists {
		parts[i] = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(l))), 8*len(l))
	}
	return b.upRaw(parts...)
}

func ints64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// ---- weights ----

// Invalidate drops the device copy of t; the next use uploads it again.
func (b *cudaBackend) Invalidate(t *tensor.Tensor) {
	b.enter()
	defer b.exit()
	delete(b.weights, t)
}

// weight returns the device copy of t in its stored dtype, uploading it on
// first use.
func (b *cudaBackend) weight(t *tensor.Tensor) *devTensor {
	if w := b.weights[t]; w != nil {
		return w
	}
	switch t.DType {
	case tensor.F32, tensor.BF16, tensor.F16, tensor.F64:
	default:
		panic(fmt.Sprintf("gpu: tensor %s has dtype %s (valid: F32, BF16, F16, F64)", t.Name, t.DType))
	}
	if want := t.Len() * t.DType.Size(); len(t.Data) != want {
		panic(fmt.Sprintf("gpu: tensor %s holds %d bytes, %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, want))
	}
	w := &devTensor{blk: b.allocBlock(int64(len(t.Data))), dt: t.DType, n: t.Len()}
	if len(t.Data) > 0 {
		if err := cu.MemcpyHtoD(w.blk.ptr, unsafe.Pointer(&t.Data[0]), int64(len(t.Data))); err != nil {
			b.fail("uploading "+t.Name, err)
		}
	}
	b.weights[t] = w
	return w
}

// weightF32 returns t's values as float32 on the device: the copy itself for
// F32 storage, else the copy widened into scratch (valid until the next call
// that widens a weight).
func (b *cudaBackend) weightF32(t *tensor.Tensor) cu.DevicePtr {
	w := b.weight(t)
	if w.dt == tensor.F32 {
		return w.blk.ptr
	}
	dst := b.scratch(&b.wconv, 4*int64(w.n))
	b.grid(kToF32, int64(w.n), argP(dst), argP(w.blk.ptr), argI(int64(w.dt)), argI(int64(w.n)))
	return dst
}

// gemmPrec is the precision of the GEMMs of a weight stored as dt: the
// mode's, or float32 on the built-in kernel.
func (b *cudaBackend) gemmPrec(dt tensor.DType) gemmPrec {
	if b.blas == nil {
		return precF32
	}
	return b.mode.prec(dt)
}

// weightOperand returns weight t as a GEMM of precision p reads it: the
// stored BF16 copy itself for precBF16, else float32 (weightF32).
func (b *cudaBackend) weightOperand(t *tensor.Tensor, p gemmPrec) cu.DevicePtr {
	if p == precBF16 {
		return b.weight(t).blk.ptr // the mode gives precBF16 only to BF16 weights
	}
	return b.weightF32(t)
}

// actOperand returns the first n float32 of x as a GEMM of precision p reads
// them: x itself, or for precBF16 rounded to bf16 into half[slot] (valid
// until the next call that rounds into that slot).
func (b *cudaBackend) actOperand(x backend.Buffer, n int, p gemmPrec, slot int) cu.DevicePtr {
	if p != precBF16 {
		return b.ptr(x)
	}
	dst := b.scratch(&b.half[slot], 2*int64(n))
	b.grid(kToBF16, int64(n), argP(dst), argP(b.ptr(x)), argI(int64(n)))
	return dst
}

// ---- launches ----

// arg is one kernel argument: 8 bytes and the kind the spec expects.
type arg struct {
	v    uint64
	kind byte
}

func argP(d cu.DevicePtr) arg { return arg{uint64(d), 'p'} }
func argI(n int64) arg        { return arg{uint64(n), 'i'} }
func argF(x float64) arg      { return arg{math.Float64bits(x), 'f'} }
func argB(v bool) arg {
	if v {
		return argI(1)
	}
	return argI(0)
}

// launch starts kernel k on a gx×gy grid of blocks of threads threads.
func (b *cudaBackend) launch(k, gx, gy, threads int, args ...arg) {
	s := kernelSpecs[k]
	if len(args) != len(s.params) {
		panic(fmt.Sprintf("gpu: kernel %s called with %d arguments, has %d", s.name, len(args), len(s.params)))
	}
	vals := make([]uint64, len(args))
	ptrs := make([]unsafe.Pointer, len(args))
	for j, a := range args {
		if a.kind != s.params[j] {
			panic(fmt.Sprintf("gpu: kernel %s argument %d is %c, spec %q", s.name, j, a.kind, s.params))
		}
		vals[j] = a.v
		ptrs[j] = unsafe.Pointer(&vals[j])
	}
	if gx <= 0 || gy <= 0 {
		return
	}
	if err := b.fns[k].Launch(gx, gy, 1, threads, 1, 1, 0, cu.Stream{}, ptrs); err != nil {
		b.fail("launching "+s.name, err)
	}
	if b.sync {
		if err := cu.Synchronize(); err != nil {
			b.fail("kernel "+s.name, err)
		}
	}
}

// grid launches a grid-stride kernel over n elements with 256 threads per
// block and at most 2^16 blocks.
func (b *cudaBackend) grid(k int, n int64, args ...arg) {
	b.launch(k, int(min((n+255)/256, 1<<16)), 1, 256, args...)
}
