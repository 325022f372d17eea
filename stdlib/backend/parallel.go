package backend

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into contiguous chunks and runs body on them
// from up to GOMAXPROCS goroutines. grain is the smallest chunk worth a
// goroutine (in units of n), so small ops stay on the calling goroutine and
// pay no scheduling cost.
func parallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if w := n / grain; w < workers {
		workers = w
	}
	if workers <= 1 {
		body(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			body(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	body(0, min(chunk, n))
	wg.Wait()
}

// parallelTasks runs body(i) for i in [0, n) with up to GOMAXPROCS
// goroutines taking tasks in order; used where tasks have unequal cost
// (causal attention heads are equal, but blocks of a triangle are not).
func parallelTasks(n int, body func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			body(i)
		}
		return
	}
	var mu sync.Mutex
	next := 0
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		i := next
		next++
		return i
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := take(); i < n; i = take() {
				body(i)
			}
		}()
	}
	wg.Wait()
}

// parallelChunks cuts [0, n) into fixed chunks of size chunk and runs
// body(ci, lo, hi) for chunk ci on up to GOMAXPROCS goroutines. Because the
// cut does not depend on the number of cores, per-chunk partial sums reduced
// in chunk order give the same bits on every machine.
func parallelChunks(n, chunk int, body func(ci, lo, hi int)) {
	nc := (n + chunk - 1) / chunk
	parallelFor(nc, 1, func(c0, c1 int) {
		for ci := c0; ci < c1; ci++ {
			body(ci, ci*chunk, min((ci+1)*chunk, n))
		}
	})
}
