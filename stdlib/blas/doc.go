// Package blas holds the dense float32 linear-algebra kernels the model engine
// runs on the CPU; today that is Sgemm, a multi-threaded row-major matrix
// product, and SetThreads/Threads to size it.
//
// Sgemm follows the Goto/BLIS design: op(B) is packed into depth-major panels
// of 16 columns (kept in L1/L3), op(A) into panels of 6 rows (kept in L2),
// and a 6×16 register-tiled microkernel accumulates each tile of C in 12 ymm
// registers: AVX2+FMA assembly on amd64 CPUs that have it, a pure-Go kernel
// elsewhere or under the purego build tag. Transposes are absorbed by the
// packing routines, so all four transpose combinations run at the same speed.
// Products with at most 5 rows (generation, one token at a time) skip packing
// and run as dot products or fused row updates, since they are bound by
// reading op(B).
//
// C is cut into a few more tasks than threads when packing allows; the caller
// and a long-lived pool of worker goroutines claim tasks until none are left,
// so a thread that is descheduled does not stall the call. Small products stay
// on the caller. Pack buffers and call state are recycled: steady-state calls
// do not allocate.
package blas
