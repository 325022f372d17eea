// Registration of emulated kernels: build.sh appends EMU_REGISTER(name) for
// every KERNEL of a .cu file to a copy that includes it, so the driver can
// find a kernel by name and call it with cuLaunchKernel's parameter array.
#pragma once

extern "C" {
typedef void (*emu_thunk_fn)(void **params);
typedef int (*emu_check_fn)(const char *kernel, void **params);
void emu_register(const char *name, emu_thunk_fn call, emu_check_fn check);
// emu_check_ptr says (on stderr, returning 1) when parameter i of a kernel
// points outside every live device allocation.
int emu_check_ptr(const char *kernel, int i, const void *p);
}

template <unsigned... I> struct emu_seq {};
template <unsigned N, unsigned... I> struct emu_mkseq : emu_mkseq<N - 1, N - 1, I...> {};
template <unsigned... I> struct emu_mkseq<0, I...> {
  typedef emu_seq<I...> type;
};

template <class T> struct emu_is_ptr {
  enum { v = 0 };
};
template <class T> struct emu_is_ptr<T *> {
  enum { v = 1 };
};

// Every kernel parameter is 8 bytes (esa.cuh), so params[i] points at the
// value of parameter i as the C signature types it.
template <class... A, unsigned... I> static void emu_invoke(void (*f)(A...), void **p, emu_seq<I...>) {
  f(*(A *)p[I]...);
}
template <class... A, unsigned... I>
static int emu_check(void (*)(A...), const char *kernel, void **p, emu_seq<I...>) {
  int bad[] = {0, (emu_is_ptr<A>::v ? emu_check_ptr(kernel, (int)I, *(void **)p[I]) : 0)...};
  int n = 0;
  for (int b : bad) n += b;
  return n;
}
template <class... A> constexpr int emu_arity(void (*)(A...)) { return sizeof...(A); }

template <auto F> static void emu_thunk(void **p) {
  emu_invoke(F, p, typename emu_mkseq<emu_arity(F)>::type());
}
template <auto F> static int emu_checker(const char *kernel, void **p) {
  return emu_check(F, kernel, p, typename emu_mkseq<emu_arity(F)>::type());
}

#define EMU_REGISTER(fn)                                                                           \
  static struct emu_reg_##fn {                                                                     \
    emu_reg_##fn() { emu_register(#fn, &emu_thunk<fn>, &emu_checker<fn>); }                         \
  } emu_reg_##fn##_instance;
