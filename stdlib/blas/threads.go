package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// threadSetting is the SetThreads value; 0 means runtime.GOMAXPROCS.
var threadSetting atomic.Int64

// SetThreads sets how many threads Sgemm may use. n ≤ 0 restores the default,
// runtime.GOMAXPROCS(0) read at each call.
func SetThreads(n int) {
	threadSetting.Store(int64(max(n, 0)))
}

// Threads reports how many threads Sgemm may use.
func Threads() int {
	if n := threadSetting.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// rect is one task: the block C[i0:i1, j0:j1].
type rect struct{ i0, i1, j0, j1 int }

// gemmCall is one Sgemm call in flight. It is recycled, so dispatching does
// not allocate in steady state.
//
// Tasks are claimed through next, by the caller and by up to threads-1 pool
// workers: a descheduled or busy worker only means the others claim more, so
// the call never waits for a particular thread to start. pending counts
// unfinished tasks; the caller waits on it alone.
//
// state is generation<<32 | holders. A worker joins (holders+1) only while the
// generation still matches the one it was sent; the caller closes the call
// after its tasks finish by advancing the generation, so a worker that arrives
// later drops out without touching the call. Whoever lets go last recycles it.
type gemmCall struct {
	g       gemm
	tasks   []rect
	next    atomic.Int64
	pending sync.WaitGroup
	state   atomic.Uint64
	scratch []float32 // op(A) copied for the unpacked path
}

// helpRequest asks a worker to help with call if it is still generation gen.
type helpRequest struct {
	call *gemmCall
	gen  uint32
}

const holdersMask = 1<<32 - 1

// freeCalls recycles gemmCalls. A channel rather than a sync.Pool: the last
// holder of a call is often a worker, and a sync.Pool would park it in that
// worker's per-P slot where the next caller cannot find it.
var freeCalls = make(chan *gemmCall, 64)

func getCall() *gemmCall {
	select {
	case c := <-freeCalls:
		return c
	default:
		return new(gemmCall)
	}
}

// workers is the long-lived goroutine pool; it only grows, to the largest
// thread count requested minus one (the caller works too).
var workers struct {
	mu sync.Mutex
	n  int
	ch chan helpRequest
}

func ensureWorkers(n int) {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if workers.ch == nil {
		workers.ch = make(chan helpRequest, 1024)
	}
	for workers.n < n {
		workers.n++
		go worker(workers.ch)
	}
}

func worker(ch chan helpRequest) {
	for req := range ch {
		if req.call.join(req.gen) {
			req.call.drain()
			req.call.release()
		}
	}
}

// execute runs all of call's tasks with up to threads goroutines and returns
// when every task is done. It consumes the call (recycles it).
func (call *gemmCall) execute(threads int) {
	helpers := min(threads, len(call.tasks)) - 1
	gen := uint32(call.state.Load() >> 32)
	call.next.Store(0)
	call.pending.Add(len(call.tasks))
	call.state.Store(uint64(gen)<<32 | 1) // the caller holds it
	if helpers > 0 {
		ensureWorkers(helpers)
		for range helpers {
			workers.ch <- helpRequest{call, gen}
		}
	}
	call.drain()
	call.pending.Wait()
	// Close: later joins fail; then drop the caller's hold.
	for {
		s := call.state.Load()
		closed := (s>>32+1)<<32 | (s&holdersMask - 1)
		if call.state.CompareAndSwap(s, closed) {
			if closed&holdersMask == 0 {
				call.recycle()
			}
			return
		}
	}
}

// join takes a hold on the call if it is still generation gen.
func (call *gemmCall) join(gen uint32) bool {
	for {
		s := call.state.Load()
		if uint32(s>>32) != gen || s&holdersMask == 0 {
			return false
		}
		if call.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// drain claims and runs tasks until none are left.
func (call *gemmCall) drain() {
	for {
		t := int(call.next.Add(1) - 1)
		if t >= len(call.tasks) {
			return
		}
		r := call.tasks[t]
		call.g.work(r.i0, r.i1, r.j0, r.j1)
		call.pending.Done()
	}
}

// release drops a worker's hold; the last holder after the close recycles.
func (call *gemmCall) release() {
	if call.state.Add(^uint64(0))&holdersMask == 0 {
		call.recycle()
	}
}

func (call *gemmCall) recycle() {
	call.g = gemm{} // drop references to the caller's slices
	select {
	case freeCalls <- call:
	default: // enough spares; let the GC have it
	}
}
