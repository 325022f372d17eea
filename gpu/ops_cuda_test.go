//go:build cuda

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"gorgonia.org/cu"

	"esa/stdlib/backend"
	"esa/stdlib/tensor"
)

// These tests need a GPU (the cuda build does not start without one). Each
// op runs on the float32 CPU backend and on the device with the same
// inputs; the results must agree to float32 rounding (relative to the
// largest value of the result).

// opTol is the tolerance of an op's result relative to its largest value:
// summation order and hardware exp/log (about 2 ulp) differ from the CPU.
const opTol = 2e-5

// tf32Tol is the tolerance of a TF32 GEMM against the float32 CPU backend.
// TF32 keeps 10 of the 23 mantissa bits, so each input is off by up to 2⁻¹¹
// relative when rounded (2⁻¹⁰ truncated, as tensor cores may), each product
// by twice that; over k products of random sign the error grows like √k, as
// does the result, so relative to the largest result it stays near 2⁻¹¹·√2
// (≈ 3.5·10⁻⁴) typically, a few times that at the worst of thousands of
// outputs. 4·10⁻³ (2⁻⁸) covers truncation with room, and is still 20 times
// below what bf16 rounding of the activations would give.
const tf32Tol = 4e-3

// openDevice opens device 0 in the default fp32 GEMM mode, whatever
// ESA_GPU_GEMM says outside: the tests' tolerances are float32's.
func openDevice(t testing.TB) Device {
	t.Helper()
	return openDeviceMode(t, "fp32")
}

// openDeviceMode opens device 0 with ESA_GPU_GEMM=mode.
func openDeviceMode(t testing.TB, mode string) Device {
	t.Helper()
	t.Setenv(gemmModeEnv, mode)
	d, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// onEmulator says whether device 0 is gpu/emu's CPU emulator, whose cuBLAS
// logs the GEMM calls (ESA_EMU_CUBLAS_LOG).
func onEmulator() bool {
	name, ok, _ := Available()
	return ok && strings.Contains(name, "gpu/emu")
}

// roundBF16 is v with every value rounded to bf16 (tensor.F32ToBF16), as
// the bf16 GEMMs round their float32 activation operands.
func roundBF16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = tensor.BF16ToF32(tensor.F32ToBF16(x))
	}
	return out
}

// opPair runs the same op on the CPU backend and the device.
type opPair struct {
	t   *testing.T
	cpu backend.Backend
	dev Device
	r   *rand.Rand
}

func newPair(t *testing.T, dev Device) *opPair {
	return &opPair{t: t, cpu: backend.CPU(), dev: dev, r: rand.New(rand.NewPCG(7, 8))}
}

func (p *opPair) vec(n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(p.r.NormFloat64() * scale)
	}
	return v
}

// both returns buffers holding v on the CPU (a copy: CPU FromHost aliases)
// and on the device.
func (p *opPair) both(v []float32) (backend.Buffer, backend.Buffer) {
	c := p.cpu.Alloc(len(v))
	p.cpu.Upload(c, v)
	return c, p.dev.FromHost(v)
}

// rnd returns both buffers of n random values.
func (p *opPair) rnd(n int, scale float64) (backend.Buffer, backend.Buffer) {
	return p.both(p.vec(n, scale))
}

func (p *opPair) weight(name string, dt tensor.DType, scale float64, shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.FromF32(name, p.vec(n, scale), shape...).Convert(dt)
}

// same compares the first n values of a CPU and a device buffer.
func (p *opPair) same(what string, c, g backend.Buffer, n int, tol float64) {
	p.t.Helper()
	a, b := make([]float32, n), make([]float32, n)
	p.cpu.Download(a, c)
	p.dev.Download(b, g)
	sameVals(p.t, what, a, b, tol)
}

func sameVals(t testing.TB, what string, want, got []float32, tol float64) {
	t.Helper()
	var scale, worst float64
	at := -1
	for i := range want {
		scale = max(scale, math.Abs(float64(want[i])))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d != d || d > worst {
			worst, at = d, i
			if d != d {
				break
			}
		}
	}
	if scale == 0 {
		scale = 1
	}
	if !(worst/scale <= tol) {
		t.Errorf("%s: max |gpu − cpu| = %.3g at %d (gpu %g, cpu %g), %.3g relative to max |cpu| %.3g > %g",
			what, worst, at, got[at], want[at], worst/scale, scale, tol)
	}
}

var dtypes = []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.F64}

func TestOpsMemory(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	v := p.vec(1000, 1)
	b := dev.FromHost(v)
	got := make([]float32, 1000)
	dev.Download(got, b)
	sameVals(t, "FromHost/Download", v, got, 0)
	s := dev.Slice(b, 100, 50)
	dev.Zero(s)
	dev.Download(got, b)
	for i := range got {
		want := v[i]
		if i >= 100 && i < 150 {
			want = 0
		}
		if got[i] != want {
			t.Fatalf("after zeroing a slice: [%d] = %g, want %g", i, got[i], want)
		}
	}
	c := dev.Alloc(1000)
	dev.Copy(c, b)
	dev.Add(c, b)
	dev.Download(got, c)
	for i := range got {
		if w := 2 * v[i]; i >= 100 && i < 150 && got[i] != 0 || (i < 100 || i >= 150) && got[i] != w {
			t.Fatalf("Copy+Add: [%d] = %g", i, got[i])
		}
	}
	z := dev.Alloc(1 << 20)
	big := make([]float32, 1<<20)
	dev.Download(big, z)
	for i, x := range big {
		if x != 0 {
			t.Fatalf("Alloc not zeroed at %d: %g", i, x)
		}
	}
}

// TestOpsMatMul checks MatMul and MatMulBackward against the CPU backend for
// every weight dtype, in each GEMM mode on cuBLAS and on the built-in kernel
// (which stays float32 whatever the mode). The reference is float32 on the
// operands the GEMM is meant to see: for a bf16 GEMM, the activations
// rounded to bf16 (the weights are bf16 already). Products of two bf16
// values have at most 16 significant bits, exact in float32, and the sums
// are float32 on both sides, so the device differs from that reference only
// in summation order — opTol, as in fp32 mode — while an activation not
// rounded, or rounded otherwise, is off by up to 2⁻⁹ relative and fails.
// TF32 GEMMs are compared with the float32 result at tf32Tol. On the
// emulator, its cuBLAS log shows the entry point and compute type of every
// GEMM.
func TestOpsMatMul(t *testing.T) {
	for _, c := range []struct{ name, cublas, mode string }{
		{"cublas", "", "fp32"}, {"builtin", "none", "fp32"},
		{"cublas-tf32", "", "tf32"}, {"cublas-bf16", "", "bf16"}, {"builtin-bf16", "none", "bf16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.cublas != "" {
				t.Setenv("ESA_CUBLAS", c.cublas)
			}
			mode, err := parseGEMMMode(c.mode)
			if err != nil {
				t.Fatal(err)
			}
			dev := openDeviceMode(t, c.mode)
			gemm := dev.GEMM()
			t.Logf("GEMM: %s", gemm)
			// The built-in kernel where asked, or where no cuBLAS loads
			// (ESA_CUBLAS=none from outside, a machine without it).
			builtin := strings.HasPrefix(gemm, "built-in")
			wantMode := c.mode
			if builtin {
				wantMode = "fp32"
			}
			if !strings.Contains(gemm, ", "+wantMode) || (c.cublas == "none" && !builtin) ||
				(builtin && mode != gemmFP32) != strings.Contains(gemm, "ESA_GPU_GEMM="+c.mode+" needs cuBLAS") {
				t.Errorf("GEMM() = %q: want the %s mode (ESA_CUBLAS=%q)", gemm, wantMode, c.cublas)
			}
			logFile := filepath.Join(t.TempDir(), "cublas.log")
			emu := onEmulator()
			if emu {
				t.Setenv("ESA_EMU_CUBLAS_LOG", logFile)
			}
			p := newPair(t, dev)
			for _, dt := range dtypes {
				prec := precF32
				if !builtin {
					prec = mode.prec(dt)
				}
				act, tol := func(v []float32) []float32 { return v }, opTol
				switch prec {
				case precBF16:
					act = roundBF16
				case precTF32:
					tol = tf32Tol
				}
				// cpuDev returns a CPU buffer of the values the GEMM should
				// see and a device buffer of v.
				cpuDev := func(v []float32) (backend.Buffer, backend.Buffer) {
					cb := p.cpu.Alloc(len(v))
					p.cpu.Upload(cb, act(v))
					return cb, dev.FromHost(v)
				}
				os.Remove(logFile)
				gemms := 0
				for _, sh := range [][3]int{{1, 7, 5}, {37, 130, 67}, {128, 96, 200}} {
					rows, nOut, nIn := sh[0], sh[1], sh[2]
					name := fmt.Sprintf("%s/%dx%dx%d", dt, rows, nOut, nIn)
					w := p.weight("w", dt, 0.5, nOut, nIn)
					xc, xg := cpuDev(p.vec(rows*nIn, 1))
					for _, acc := range []bool{false, true} {
						oc, og := p.rnd(rows*nOut, 1)
						p.cpu.MatMul(oc, xc, w, rows, acc)
						dev.MatMul(og, xg, w, rows, acc)
						p.same(fmt.Sprintf("MatMul %s acc=%v", name, acc), oc, og, rows*nOut, tol)
					}
					dyc, dyg := cpuDev(p.vec(rows*nOut, 1))
					dxc, dxg := p.rnd(rows*nIn, 1)
					dwc, dwg := p.rnd(nOut*nIn, 1)
					p.cpu.MatMulBackward(dxc, dwc, dyc, xc, w, rows, true)
					dev.MatMulBackward(dxg, dwg, dyg, xg, w, rows, true)
					p.same("MatMulBackward dx "+name, dxc, dxg, rows*nIn, tol)
					p.same("MatMulBackward dw "+name, dwc, dwg, nOut*nIn, tol)
					gemms += 4
				}
				if emu {
					checkGEMMLog(t, logFile, dt, builtin, prec, gemms)
				}
			}
			if !emu {
				t.Log("not the emulator: the GEMMs' compute types are not observable")
			}
		})
	}
}

// checkGEMMLog checks the emulated cuBLAS's log: n calls, each the entry
// point and types of precision prec, or none on the built-in kernel.
func checkGEMMLog(t *testing.T, path string, dt tensor.DType, builtin bool, prec gemmPrec, n int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Fields(strings.ReplaceAll(string(data), " ", "_"))
	want := map[gemmPrec]string{
		precF32:  "cublasSgemm_A=0_B=0_C=0_compute=68",
		precTF32: "cublasGemmEx_A=0_B=0_C=0_compute=77",
		precBF16: "cublasGemmEx_A=14_B=14_C=0_compute=68",
	}[prec]
	if builtin {
		n = 0
	}
	if len(lines) != n {
		t.Errorf("%s weights: %d cuBLAS calls logged, want %d", dt, len(lines), n)
	}
	for _, l := range lines {
		if l != want {
			t.Errorf("%s weights: cuBLAS call %s, want %s", dt, l, want)
			break
		}
	}
}

// TestOpsRoundBF16 checks the kernel that rounds activations for the bf16
// GEMMs against tensor.F32ToBF16, bit for bit: ties to even, overflow to
// infinity, subnormals, signed zeros and NaNs whose payload would round
// away.
func TestOpsRoundBF16(t *testing.T) {
	dev := openDevice(t)
	b := dev.(*cudaBackend)
	bits := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xff800001, 0x7fbfffff,
		0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, 0xbf808000,
		0x00000001, 0x00008000, 0x00018000, 0x807fffff, 0x00800000, 0x3f800000}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		bits = append(bits, r.Uint32())
	}
	v := make([]float32, len(bits))
	for i, u := range bits {
		v[i] = math.Float32frombits(u)
	}
	x := dev.FromHost(v)
	got := make([]uint16, len(v))
	func() {
		b.enter()
		defer b.exit()
		ptr := b.actOperand(x, len(v), precBF16, 0)
		if err := cu.MemcpyDtoH(unsafe.Pointer(&got[0]), ptr, 2*int64(len(got))); err != nil {
			t.Fatal(err)
		}
	}()
	bad := 0
	for i, u := range bits {
		if want := tensor.F32ToBF16(v[i]); got[i] != want {
			if bad++; bad <= 5 {
				t.Errorf("bf16 of %#08x: device %#04x, tensor.F32ToBF16 %#04x", u, got[i], want)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%d of %d values rounded differently", bad, len(bits))
	}
}

// TestOpsGEMMModeInvalid: an ESA_GPU_GEMM that is no mode stops New with
// the valid values.
func TestOpsGEMMModeInvalid(t *testing.T) {
	t.Setenv(gemmModeEnv, "fp16")
	d, err := New(0)
	if err == nil {
		d.Close()
		t.Fatal("New accepted ESA_GPU_GEMM=fp16")
	}
	for _, s := range []string{"ESA_GPU_GEMM", "fp32", "tf32", "bf16"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

func TestOpsEmbedding(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	ids := []int{3, 0, 9, 3, 3, 7}
	for _, dt := range dtypes {
		w := p.weight("emb", dt, 1, 10, 33)
		oc, og := p.rnd(len(ids)*33, 1)
		p.cpu.Embedding(oc, w, ids)
		dev.Embedding(og, w, ids)
		p.same("Embedding "+dt.String(), oc, og, len(ids)*33, 0)
	}
	dc, dg := p.rnd(len(ids)*33, 1)
	wc, wg := p.rnd(10*33, 1)
	p.cpu.EmbeddingBackward(wc, dc, ids, 33)
	dev.EmbeddingBackward(wg, dg, ids, 33)
	p.same("EmbeddingBackward (repeated ids)", wc, wg, 10*33, opTol)
}

func TestOpsNorms(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	rows, dim := 19, 300
	for _, dt := range dtypes {
		w := p.weight("g", dt, 1, dim)
		bias := p.weight("b", dt, 1, dim)
		xc, xg := p.rnd(rows*dim, 3)
		oc, og := p.rnd(rows*dim, 1)
		rc, rg := p.rnd(rows, 1)
		p.cpu.RMSNorm(oc, rc, xc, w, rows, dim, 1e-5)
		dev.RMSNorm(og, rg, xg, w, rows, dim, 1e-5)
		p.same("RMSNorm "+dt.String(), oc, og, rows*dim, opTol)
		p.same("RMSNorm rstd "+dt.String(), rc, rg, rows, opTol)
		dyc, dyg := p.rnd(rows*dim, 1)
		dxc, dxg := p.rnd(rows*dim, 1)
		dwc, dwg := p.rnd(dim, 1)
		p.cpu.RMSNormBackward(dxc, dwc, dyc, xc, rc, w, rows, dim)
		dev.RMSNormBackward(dxg, dwg, dyg, xg, rg, w, rows, dim)
		p.same("RMSNormBackward dx "+dt.String(), dxc, dxg, rows*dim, opTol)
		p.same("RMSNormBackward dw "+dt.String(), dwc, dwg, dim, opTol)

		mc, mg := p.rnd(rows, 1)
		p.cpu.LayerNorm(oc, mc, rc, xc, w, bias, rows, dim, 1e-5)
		dev.LayerNorm(og, mg, rg, xg, w, bias, rows, dim, 1e-5)
		p.same("LayerNorm "+dt.String(), oc, og, rows*dim, opTol)
		p.same("LayerNorm mean "+dt.String(), mc, mg, rows, opTol)
		p.same("LayerNorm rstd "+dt.String(), rc, rg, rows, opTol)
		dbc, dbg := p.rnd(dim, 1)
		p.cpu.LayerNormBackward(dxc, dwc, dbc, dyc, xc, mc, rc, w, rows, dim)
		dev.LayerNormBackward(dxg, dwg, dbg, dyg, xg, mg, rg, w, rows, dim)
		p.same("LayerNormBackward dx "+dt.String(), dxc, dxg, rows*dim, opTol)
		p.same("LayerNormBackward dw "+dt.String(), dwc, dwg, dim, opTol)
		p.same("LayerNormBackward db "+dt.String(), dbc, dbg, dim, opTol)

		p.cpu.AddBias(oc, bias, rows, dim)
		dev.AddBias(og, bias, rows, dim)
		p.same("AddBias "+dt.String(), oc, og, rows*dim, opTol)
	}
	rows, dim = 50, 70
	dbc, dbg := p.rnd(dim, 1)
	dyc, dyg := p.rnd(rows*dim, 1)
	p.cpu.BiasBackward(dbc, dyc, rows, dim)
	dev.BiasBackward(dbg, dyg, rows, dim)
	p.same("BiasBackward", dbc, dbg, dim, opTol)
}

func TestOpsRope(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	rows, heads, headDim, pos0 := 9, 3, 16, 4
	for _, rot := range []int{16, 8} {
		half := rot / 2
		cs, sn := make([]float32, (pos0+rows)*half), make([]float32, (pos0+rows)*half)
		for i := range cs {
			a := p.r.Float64() * 6
			cs[i], sn[i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		cc, cg := p.both(cs)
		sc, sg := p.both(sn)
		for _, inter := range []bool{false, true} {
			for _, inv := range []bool{false, true} {
				xc, xg := p.rnd(rows*heads*headDim, 1)
				p.cpu.Rope(xc, cc, sc, rows, heads, headDim, rot, pos0, inter, inv)
				dev.Rope(xg, cg, sg, rows, heads, headDim, rot, pos0, inter, inv)
				p.same(fmt.Sprintf("Rope rot=%d interleaved=%v inverse=%v", rot, inter, inv), xc, xg, rows*heads*headDim, opTol)
			}
		}
	}
}

func TestOpsAttention(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	for _, c := range []struct{ tq, tk, heads, kv, hd, window int }{
		{1, 1, 2, 1, 8, 0}, {17, 17, 4, 2, 32, 0}, {5, 40, 4, 4, 64, 0}, {70, 70, 6, 2, 128, 0},
		{33, 33, 4, 1, 16, 7}, {1, 50, 2, 2, 256, 10}, {9, 9, 2, 1, 40, 0},
		// Rows that see more keys than the dq kernel keeps (ATT_CACHE).
		{280, 280, 2, 1, 8, 270},
	} {
		name := fmt.Sprintf("tq=%d tk=%d h=%d kv=%d hd=%d window=%d", c.tq, c.tk, c.heads, c.kv, c.hd, c.window)
		qc, qg := p.rnd(c.tq*c.heads*c.hd, 1)
		kc, kg := p.rnd(c.tk*c.kv*c.hd, 1)
		vc, vg := p.rnd(c.tk*c.kv*c.hd, 1)
		oc, og := p.rnd(c.tq*c.heads*c.hd, 1)
		pc, pg := p.rnd(c.heads*c.tq*c.tk, 1)
		p.cpu.Attention(oc, pc, qc, kc, vc, c.tq, c.tk, c.heads, c.kv, c.hd, c.window)
		// The device saves one log-sum-exp per row and head for the
		// backward, not the probabilities; they come only when asked for.
		if n := backend.AttentionSavedLen(dev, c.heads, c.tq, c.tk); n != c.heads*c.tq {
			t.Fatalf("%s: the device saves %d values for the backward, want heads·tq = %d", name, n, c.heads*c.tq)
		}
		sg := dev.Alloc(c.heads * c.tq)
		dev.Attention(og, sg, qg, kg, vg, c.tq, c.tk, c.heads, c.kv, c.hd, c.window)
		p.same("Attention out "+name, oc, og, c.tq*c.heads*c.hd, opTol)
		o1 := dev.Alloc(c.tq * c.heads * c.hd)
		backend.AttentionProbs(dev, o1, pg, qg, kg, vg, c.tq, c.tk, c.heads, c.kv, c.hd, c.window)
		p.same("AttentionProbs out "+name, oc, o1, c.tq*c.heads*c.hd, opTol)
		p.same("AttentionProbs probs "+name, pc, pg, c.heads*c.tq*c.tk, opTol)
		o2 := dev.Alloc(c.tq * c.heads * c.hd)
		dev.Attention(o2, nil, qg, kg, vg, c.tq, c.tk, c.heads, c.kv, c.hd, c.window)
		p.same("Attention without saving "+name, oc, o2, c.tq*c.heads*c.hd, opTol)
		if c.tq != c.tk {
			continue
		}
		n, nk := c.tq*c.heads*c.hd, c.tk*c.kv*c.hd
		doc, dog := p.rnd(n, 1)
		dqc, dqg := p.rnd(n, 1)
		dkc, dkg := p.rnd(nk, 1)
		dvc, dvg := p.rnd(nk, 1)
		p.cpu.AttentionBackward(dqc, dkc, dvc, doc, qc, kc, vc, pc, c.tq, c.heads, c.kv, c.hd, c.window)
		dev.AttentionBackward(dqg, dkg, dvg, dog, qg, kg, vg, sg, c.tq, c.heads, c.kv, c.hd, c.window)
		p.same("AttentionBackward dq "+name, dqc, dqg, n, opTol)
		p.same("AttentionBackward dk "+name, dkc, dkg, nk, opTol)
		p.same("AttentionBackward dv "+name, dvc, dvg, nk, opTol)
	}
}

// TestOpsAttentionLong runs attention forward and backward over a sequence
// long enough that a [heads, t, t] buffer would be large: the results must
// match the CPU backend, the device must hold no more memory after the
// backward than a small fraction of one such buffer, and the backward must
// be deterministic (no float atomics: two runs agree bit for bit).
func TestOpsAttentionLong(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	for _, c := range []struct{ t, heads, kv, hd, window int }{{1100, 4, 2, 16, 64}} {
		T := c.t
		name := fmt.Sprintf("t=%d h=%d kv=%d hd=%d window=%d", T, c.heads, c.kv, c.hd, c.window)
		n, nk := T*c.heads*c.hd, T*c.kv*c.hd
		qc, qg := p.rnd(n, 1)
		kc, kg := p.rnd(nk, 1)
		vc, vg := p.rnd(nk, 1)
		doc, dog := p.rnd(n, 1)
		oc, og := p.rnd(n, 1)
		pc := p.cpu.Alloc(c.heads * T * T)
		dqc, dkc, dvc := p.cpu.Alloc(n), p.cpu.Alloc(nk), p.cpu.Alloc(nk)
		p.cpu.Attention(oc, pc, qc, kc, vc, T, T, c.heads, c.kv, c.hd, c.window)
		p.cpu.AttentionBackward(dqc, dkc, dvc, doc, qc, kc, vc, pc, T, c.heads, c.kv, c.hd, c.window)

		sg := dev.Alloc(backend.AttentionSavedLen(dev, c.heads, T, T))
		dqg, dkg, dvg := dev.Alloc(n), dev.Alloc(nk), dev.Alloc(nk)
		before := heldBytes(dev)
		dev.Attention(og, sg, qg, kg, vg, T, T, c.heads, c.kv, c.hd, c.window)
		dev.AttentionBackward(dqg, dkg, dvg, dog, qg, kg, vg, sg, T, c.heads, c.kv, c.hd, c.window)
		grew := heldBytes(dev) - before
		// One [heads, t, t] float32 buffer; the backward's own scratch is
		// [heads, t] (rounded up to the backend's 1 MiB scratch minimum).
		full := int64(4 * c.heads * T * T)
		if grew >= full/4 {
			t.Errorf("%s: attention forward and backward took %d more device bytes; a [heads, t, t] buffer is %d", name, grew, full)
		}
		t.Logf("%s: saved state %d bytes, forward and backward took %d more device bytes; [heads, t, t] is %d",
			name, 4*sg.Len(), grew, full)
		p.same("long Attention out "+name, oc, og, n, opTol)
		p.same("long AttentionBackward dq "+name, dqc, dqg, n, opTol)
		p.same("long AttentionBackward dk "+name, dkc, dkg, nk, opTol)
		p.same("long AttentionBackward dv "+name, dvc, dvg, nk, opTol)

		first := make([][]float32, 3)
		for i, g := range []backend.Buffer{dqg, dkg, dvg} {
			first[i] = make([]float32, g.Len())
			dev.Download(first[i], g)
		}
		dev.AttentionBackward(dqg, dkg, dvg, dog, qg, kg, vg, sg, T, c.heads, c.kv, c.hd, c.window)
		for i, g := range []backend.Buffer{dqg, dkg, dvg} {
			again := make([]float32, g.Len())
			dev.Download(again, g)
			for e := range again {
				if math.Float32bits(again[e]) != math.Float32bits(first[i][e]) {
					t.Errorf("%s: AttentionBackward %s[%d] = %g, then %g: not deterministic", name, []string{"dq", "dk", "dv"}[i], e, first[i][e], again[e])
					break
				}
			}
		}
	}
}

// heldBytes is how much device memory the driver has handed out, after the
// backend returned every allocation it caches to the driver (so a buffer
// taken from its free lists cannot hide).
func heldBytes(dev Device) int64 {
	b := dev.(*cudaBackend)
	runtime.GC()
	b.enter()
	b.drainPending()
	b.freeCached()
	b.exit()
	free, total := dev.MemInfo()
	return total - free
}

func TestOpsActivations(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	n := 5000
	gc, gg := p.rnd(n, 4)
	uc, ug := p.rnd(n, 1)
	oc, og := p.rnd(n, 1)
	p.cpu.SwiGLU(oc, gc, uc, n)
	dev.SwiGLU(og, gg, ug, n)
	p.same("SwiGLU", oc, og, n, opTol)
	dyc, dyg := p.rnd(n, 1)
	d1c, d1g := p.rnd(n, 1)
	d2c, d2g := p.rnd(n, 1)
	p.cpu.SwiGLUBackward(d1c, d2c, dyc, gc, uc, n)
	dev.SwiGLUBackward(d1g, d2g, dyg, gg, ug, n)
	p.same("SwiGLUBackward dgate", d1c, d1g, n, opTol)
	p.same("SwiGLUBackward dup", d2c, d2g, n, opTol)
	p.cpu.GELU(oc, gc, n)
	dev.GELU(og, gg, n)
	p.same("GELU", oc, og, n, opTol)
	p.cpu.GELUBackward(d1c, dyc, gc, n)
	dev.GELUBackward(d1g, dyg, gg, n)
	p.same("GELUBackward", d1c, d1g, n, opTol)
}

func TestOpsCrossEntropy(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	rows, vocab := 7, 3001
	targets := []int{5, -1, 3000, 0, 17, -1, 2999}
	zc, zg := p.rnd(rows*vocab, 5)
	dc, dg := p.rnd(rows*vocab, 1)
	lc := p.cpu.CrossEntropy(dc, zc, targets, rows, vocab)
	lg := dev.CrossEntropy(dg, zg, targets, rows, vocab)
	if math.Abs(lc-lg) > 1e-5*math.Abs(lc) {
		t.Errorf("CrossEntropy loss %.9g, CPU %.9g", lg, lc)
	}
	p.same("CrossEntropy dlogits", dc, dg, rows*vocab, opTol)
	if l := dev.CrossEntropy(nil, zg, targets, rows, vocab); l != lg {
		t.Errorf("CrossEntropy without dlogits %.9g, with %.9g", l, lg)
	}
	// In place: the gradient overwrites the logits.
	if l := dev.CrossEntropy(zg, zg, targets, rows, vocab); math.Abs(l-lc) > 1e-5*math.Abs(lc) {
		t.Errorf("in-place CrossEntropy loss %.9g, CPU %.9g", l, lc)
	}
	p.same("in-place CrossEntropy dlogits", dc, zg, rows*vocab, opTol)
}

func TestOpsRows(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	rows, heads, hd := 5, 3, 8
	n := rows * heads * hd
	fc, fg := p.rnd(3*n, 1)
	qc, qg := p.rnd(n, 1)
	kc, kg := p.rnd(n, 1)
	vc, vg := p.rnd(n, 1)
	p.cpu.SplitQKV(qc, kc, vc, fc, rows, heads, hd)
	dev.SplitQKV(qg, kg, vg, fg, rows, heads, hd)
	p.same("SplitQKV q", qc, qg, n, 0)
	p.same("SplitQKV k", kc, kg, n, 0)
	p.same("SplitQKV v", vc, vg, n, 0)
	mc, mg := p.rnd(3*n, 1)
	p.cpu.MergeQKV(mc, qc, kc, vc, rows, heads, hd)
	dev.MergeQKV(mg, qg, kg, vg, rows, heads, hd)
	p.same("MergeQKV", mc, mg, 3*n, 0)

	dim := 24
	sel := []int{4, 0, 4, 2, 9, 4}
	scale := []float64{0.5, -1, 2, 0.25, 1, 3}
	sc, sg := p.rnd(10*dim, 1)
	for _, s := range [][]float64{nil, scale} {
		dc, dg := p.rnd(len(sel)*dim, 1)
		p.cpu.GatherRows(dc, sc, sel, s, dim)
		dev.GatherRows(dg, sg, sel, s, dim)
		p.same(fmt.Sprintf("GatherRows scale=%v", s != nil), dc, dg, len(sel)*dim, 0)
		tc, tg := p.rnd(10*dim, 1)
		p.cpu.ScatterAddRows(tc, dc, sel, s, dim)
		dev.ScatterAddRows(tg, dg, sel, s, dim)
		p.same(fmt.Sprintf("ScatterAddRows scale=%v", s != nil), tc, tg, 10*dim, opTol)
	}
	bc, bg := p.rnd(len(sel)*dim, 1)
	oc, og := make([]float64, len(sel)), make([]float64, len(sel))
	p.cpu.RowDots(oc, sc, bc, sel, dim)
	dev.RowDots(og, sg, bg, sel, dim)
	for i := range oc {
		if math.Abs(oc[i]-og[i]) > 1e-12*(1+math.Abs(oc[i])) {
			t.Errorf("RowDots[%d] = %.17g, CPU %.17g", i, og[i], oc[i])
		}
	}
}

func TestOpsHost64AndInvalidate(t *testing.T) {
	dev := openDevice(t)
	p := newPair(t, dev)
	src := []float64{1.0 / 3, -2.5, 1e-40, 7}
	b := dev.Alloc(len(src))
	dev.Upload64(b, src)
	got := make([]float64, len(src))
	dev.Download64(got, b)
	for i, v := range src {
		if got[i] != float64(float32(v)) {
			t.Errorf("Upload64/Download64[%d] = %g, want float32(%g)", i, got[i], v)
		}
	}
	// A changed weight is seen after Invalidate (and not before: the
	// device keeps its copy).
	w := p.weight("w", tensor.BF16, 1, 8, 4)
	xc, xg := p.rnd(3*4, 1)
	oc, og := p.rnd(3*8, 1)
	dev.MatMul(og, xg, w, 3, false)
	before := make([]float32, 24)
	dev.Download(before, og)
	for i := 1; i < len(w.Data); i += 2 {
		w.Data[i] ^= 0x80 // negate every value (the sign bit of each bf16), staying finite
	}
	dev.MatMul(og, xg, w, 3, false)
	stale := make([]float32, 24)
	dev.Download(stale, og)
	sameVals(t, "MatMul before Invalidate (device copy kept)", before, stale, opTol)
	dev.Invalidate(w)
	dev.MatMul(og, xg, w, 3, false)
	p.cpu.MatMul(oc, xc, w, 3, false)
	p.same("MatMul after Invalidate", oc, og, 24, opTol)
}
