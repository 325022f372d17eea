// sgemm_bench measures OpenBLAS cblas_sgemm (row-major) on the shapes that
// esa/stdlib/blas benchmarks, so the two can be compared in one run.
// Build and run through run.sh beside this file.
//
// Each shape is timed as the best of several repetitions (after a warm-up call)
// because the machine is shared and the minimum is the least noisy estimate.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Declared by OpenBLAS (not by the reference cblas.h).
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_num_threads(void);

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// cpuNow is the CPU time of the whole process: at one thread it excludes the
// time the thread was descheduled, which makes it the steadier measure on a
// shared machine (with more threads it also counts OpenBLAS's spin-waiting).
static double cpuNow(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, unsigned *seed) {
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1664525u + 1013904223u;
		x[i] = (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
	}
}

// bench times C = op(A)·op(B) (alpha 1, beta 0) for an m×n×k product and
// prints one line in the same format as the Go side (see run.sh).
static void bench(const char *name, int transA, int transB, int m, int n, int k, double minSeconds) {
	size_t asz = (size_t)m * k, bsz = (size_t)k * n, csz = (size_t)m * n;
	float *a = malloc(asz * sizeof(float)), *b = malloc(bsz * sizeof(float)), *c = malloc(csz * sizeof(float));
	if (!a || !b || !c) {
		fprintf(stderr, "out of memory for %s\n", name);
		exit(1);
	}
	unsigned seed = 1;
	fill(a, asz, &seed);
	fill(b, bsz, &seed);
	memset(c, 0, csz * sizeof(float));
	int lda = transA ? m : k, ldb = transB ? k : n;
	enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
	cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
	double best = 1e30, total = 0, cpu0 = cpuNow();
	int reps = 0;
	while (total < minSeconds || reps < 3) {
		double t0 = now();
		cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
		double dt = now() - t0;
		if (dt < best) best = dt;
		total += dt;
		reps++;
	}
	double cpu = cpuNow() - cpu0;
	double flops = 2.0 * m * n * k;
	printf("openblas %-28s best %8.2f GFLOP/s  mean %8.2f GFLOP/s  cpu %8.2f GFLOP/s  (%d reps)\n", name,
	       flops / best * 1e-9, flops * reps / total * 1e-9, flops * reps / cpu * 1e-9, reps);
	fflush(stdout);
	free(a);
	free(b);
	free(c);
}

int main(int argc, char **argv) {
	double minSeconds = argc > 1 ? atof(argv[1]) : 1.0;
	printf("openblas core=%s threads=%d config=%s\n", openblas_get_corename(), openblas_get_num_threads(),
	       openblas_get_config());
	bench("2048x2048x2048_NN", 0, 0, 2048, 2048, 2048, minSeconds);
	bench("256x512x512_NT", 0, 1, 256, 512, 512, minSeconds);
	bench("256x1376x512_NT", 0, 1, 256, 1376, 512, minSeconds);
	bench("256x50304x512_NT", 0, 1, 256, 50304, 512, minSeconds);
	bench("256x512x1376_NN", 0, 0, 256, 512, 1376, minSeconds);
	bench("1376x512x256_TN", 1, 0, 1376, 512, 256, minSeconds);
	bench("256x512x50304_NN", 0, 0, 256, 512, 50304, minSeconds);
	bench("50304x512x256_TN", 1, 0, 50304, 512, 256, minSeconds);
	bench("2048x2048x2048_TT", 1, 1, 2048, 2048, 2048, minSeconds);
	return 0;
}
