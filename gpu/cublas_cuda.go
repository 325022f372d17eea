//go:build cuda

package gpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// cuBLAS is called through function pointers found with dlsym, so the
// binary does not link it and no cuBLAS header is needed: the signatures
// below are cuBLAS v2's (handles are pointers, enums are int).
typedef int (*cublas_create_t)(void **);
typedef int (*cublas_destroy_t)(void *);
typedef int (*cublas_version_t)(void *, int *);
typedef int (*cublas_sgemm_t)(void *, int, int, int, int, int, const float *, const float *, int,
                              const float *, int, const float *, float *, int);
typedef int (*cublas_gemmex_t)(void *, int, int, int, int, int, const void *, const void *, int, int,
                               const void *, int, int, const void *, void *, int, int, int, int);

static void *esa_dlopen(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
static const char *esa_dlerror(void) { const char *e = dlerror(); return e ? e : ""; }
static void *esa_dlsym(void *lib, const char *name) { return dlsym(lib, name); }

static int esa_cublas_create(void *f, uintptr_t *h) {
	void *p = 0;
	int st = ((cublas_create_t)f)(&p);
	*h = (uintptr_t)p;
	return st;
}
static int esa_cublas_destroy(void *f, uintptr_t h) { return ((cublas_destroy_t)f)((void *)h); }
static int esa_cublas_version(void *f, uintptr_t h, int *v) { return ((cublas_version_t)f)((void *)h, v); }
static int esa_cublas_sgemm(void *f, uintptr_t h, int ta, int tb, int m, int n, int k, float alpha,
                            uintptr_t a, int lda, uintptr_t b, int ldb, float beta, uintptr_t c, int ldc) {
	return ((cublas_sgemm_t)f)((void *)h, ta, tb, m, n, k, &alpha, (const float *)a, lda,
	                           (const float *)b, ldb, &beta, (float *)c, ldc);
}
// Float32 alpha, beta and C (type 0, CUDA_R_32F): the compute types used are
// CUBLAS_COMPUTE_32F and CUBLAS_COMPUTE_32F_FAST_TF32.
static int esa_cublas_gemmex(void *f, uintptr_t h, int ta, int tb, int m, int n, int k, float alpha,
                             uintptr_t a, int at, int lda, uintptr_t b, int bt, int ldb, float beta, uintptr_t c,
                             int ldc, int compute, int algo) {
	return ((cublas_gemmex_t)f)((void *)h, ta, tb, m, n, k, &alpha, (const void *)a, at, lda, (const void *)b, bt,
	                            ldb, &beta, (void *)c, 0, ldc, compute, algo);
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// cublasSonames are tried in order: the newest toolkit first.
var cublasSonames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}

// cublasDirs are searched when the dynamic loader does not find a soname
// (toolkits outside ld.so.conf).
func cublasDirs() []string {
	var dirs []string
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if d := os.Getenv(env); d != "" {
			dirs = append(dirs, filepath.Join(d, "lib64"), filepath.Join(d, "lib"))
		}
	}
	return append(dirs, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu")
}

// cublas is a loaded cuBLAS with one handle, used on the legacy default
// stream like every other call of the backend.
type cublas struct {
	path    string
	version int
	handle  C.uintptr_t
	sgemm   unsafe.Pointer
	gemmEx  unsafe.Pointer // nil where the library lacks it (then only fp32 mode loads it)
	destroy unsafe.Pointer
}

// loadCublas loads cuBLAS, or returns why not. ESA_CUBLAS=none forces the
// built-in kernel; ESA_CUBLAS=/path/libcublas.so.N loads that file. The
// device context must be current. needEx: the mode calls cublasGemmEx.
func loadCublas(needEx bool) (*cublas, error) {
	env := os.Getenv("ESA_CUBLAS")
	if env == "none" {
		return nil, fmt.Errorf("ESA_CUBLAS=none")
	}
	var names []string
	if env != "" {
		names = []string{env}
	} else {
		names = append(names, cublasSonames...)
		for _, d := range cublasDirs() {
			for _, s := range cublasSonames {
				names = append(names, filepath.Join(d, s))
			}
		}
	}
	var tried []string
	for _, name := range names {
		cs := C.CString(name)
		lib := C.esa_dlopen(cs)
		C.free(unsafe.Pointer(cs))
		if lib == nil {
			if e := C.GoString(C.esa_dlerror()); !strings.Contains(e, "No such file") {
				tried = append(tried, e)
			}
			continue
		}
		sym := func(s string) unsafe.Pointer {
			cs := C.CString(s)
			defer C.free(unsafe.Pointer(cs))
			return C.esa_dlsym(lib, cs)
		}
		b := &cublas{path: name, sgemm: sym("cublasSgemm_v2"), gemmEx: sym("cublasGemmEx"), destroy: sym("cublasDestroy_v2")}
		create, version := sym("cublasCreate_v2"), sym("cublasGetVersion_v2")
		if b.sgemm == nil || b.destroy == nil || create == nil || version == nil {
			tried = append(tried, name+": missing cuBLAS v2 symbols")
			continue
		}
		if needEx && b.gemmEx == nil {
			tried = append(tried, name+": no cublasGemmEx")
			continue
		}
		if st := C.esa_cublas_create(create, &b.handle); st != 0 {
			tried = append(tried, fmt.Sprintf("%s: cublasCreate failed with status %d", name, int(st)))
			continue
		}
		var v C.int
		if C.esa_cublas_version(version, b.handle, &v) == 0 {
			b.version = int(v)
		}
		return b, nil
	}
	msg := "no libcublas.so.13, .12 or .11 found"
	if len(tried) > 0 {
		msg += " (" + strings.Join(tried, "; ") + ")"
	}
	return nil, fmt.Errorf("%s", msg)
}

func (b *cublas) String() string {
	return fmt.Sprintf("cuBLAS %d.%d.%d (%s)", b.version/10000, b.version%10000/100, b.version%100, b.path)
}

// gemm runs g in precision p with the row-major operands A, B, C at device
// addresses pa, pb, pc: A and B float32, or both bf16 for precBF16; C
// float32.
func (b *cublas) gemm(g gemmCall, p gemmPrec, pa, pb, pc uintptr) error {
	c := toCublas(g)
	ops := [2]uintptr{pa, pb}
	for _, v := range []int{c.m, c.n, c.k, c.lda, c.ldb, c.ldc} {
		if v > math.MaxInt32 {
			return fmt.Errorf("cuBLAS: GEMM dimension %d exceeds int32", v)
		}
	}
	op := func(t bool) C.int {
		if t {
			return 1 // CUBLAS_OP_T
		}
		return 0 // CUBLAS_OP_N
	}
	if p == precF32 {
		st := C.esa_cublas_sgemm(b.sgemm, b.handle, op(c.transA), op(c.transB), C.int(c.m), C.int(c.n), C.int(c.k),
			C.float(g.alpha), C.uintptr_t(ops[c.a]), C.int(c.lda), C.uintptr_t(ops[c.b]), C.int(c.ldb),
			C.float(g.beta), C.uintptr_t(pc), C.int(c.ldc))
		if st != 0 {
			return fmt.Errorf("cublasSgemm failed with status %d (m=%d n=%d k=%d)", int(st), c.m, c.n, c.k)
		}
		return nil
	}
	types, compute := gemmExTypes(p)
	st := C.esa_cublas_gemmex(b.gemmEx, b.handle, op(c.transA), op(c.transB), C.int(c.m), C.int(c.n), C.int(c.k),
		C.float(g.alpha), C.uintptr_t(ops[c.a]), C.int(types[c.a]), C.int(c.lda), C.uintptr_t(ops[c.b]),
		C.int(types[c.b]), C.int(c.ldb), C.float(g.beta), C.uintptr_t(pc), C.int(c.ldc), C.int(compute),
		C.int(cublasGemmDefault))
	if st != 0 {
		return fmt.Errorf("cublasGemmEx (types %d·%d, compute %d) failed with status %d (m=%d n=%d k=%d)",
			types[c.a], types[c.b], compute, int(st), c.m, c.n, c.k)
	}
	return nil
}

func (b *cublas) close() {
	if b != nil && b.handle != 0 {
		C.esa_cublas_destroy(b.destroy, b.handle)
		b.handle = 0
	}
}
