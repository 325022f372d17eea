package sensitivity

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"esa/stdlib/esa/choice"
	"esa/stdlib/esa/perturb"
	"esa/stdlib/model"
)

func compute(t testing.TB, m *model.Model, seqs [][]int, opt Options) *Scores {
	t.Helper()
	before := checksumAll(m)
	s, err := Compute(context.Background(), m, seqs, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if checksumAll(m) != before {
		t.Fatalf("%s changed the model", opt.Metric)
	}
	return s
}

func checksumAll(m *model.Model) uint64 {
	var ts []perturb.Target
	for _, p := range m.Params {
		ts = append(ts, perturb.Target{T: p})
	}
	return perturb.Checksum(ts)
}

// score reads one score.
func score(t testing.TB, s *Scores, k, j int) float64 {
	var one [1]float32
	if err := s.ScoreRange(k, int64(j), one[:]); err != nil {
		t.Fatal(err)
	}
	return float64(one[0])
}

// sampleCoords picks n (scored tensor, flat) pairs, at least one per tensor.
func sampleCoords(s *Scores, n int, seed uint64) [][2]int {
	r := rand.New(rand.NewPCG(seed, 1))
	var out [][2]int
	for k, ti := range s.Tensors {
		out = append(out, [2]int{k, r.IntN(int(ti.Len()))})
	}
	for len(out) < n {
		k := r.IntN(len(s.Tensors))
		out = append(out, [2]int{k, r.IntN(int(s.Tensors[k].Len()))})
	}
	return out
}

func relClose(a, b, rel, abs float64) bool { return math.Abs(a-b) <= rel*math.Abs(b)+abs }

// TestGradXWeightAgainstFiniteDifferences: |g ⊙ w| with g the float64
// central-difference gradient of the mean token loss, on sampled weights of
// every tensor of a tiny model (tied and untied).
func TestGradXWeightAgainstFiniteDifferences(t *testing.T) {
	for _, tied := range []bool{false, true} {
		m32, m64 := tinyPair(t, tinyConfig(tied), 1)
		seqs := randomSeqs(5, 10, 11, 2)
		s := compute(t, m32, seqs, Options{Metric: choice.GradXWeight, Workers: 3})
		if want := meanNLL64(t, m64, seqs); !relClose(s.MeanLoss, want, 1e-5, 0) {
			t.Errorf("mean loss %v, float64 %v", s.MeanLoss, want)
		}
		for _, c := range sampleCoords(s, 40, 3) {
			p := s.Params[c[0]]
			g := fdGrad(m64, p, c[1], 1e-5, func() float64 { return meanNLL64(t, m64, seqs) })
			want := math.Abs(g * m64.Params[p].At(c[1]))
			if got := score(t, s, c[0], c[1]); !relClose(got, want, 2e-3, 1e-7) {
				t.Errorf("tied=%v %s[%d]: grad_x_weight %g, finite differences %g", tied, s.Tensors[c[0]].Name, c[1], got, want)
			}
		}
	}
}

// TestGradSquaredAgainstFiniteDifferences: Σ_s g_s² with g_s the float64
// central-difference gradient of each sequence's summed NLL.
func TestGradSquaredAgainstFiniteDifferences(t *testing.T) {
	m32, m64 := tinyPair(t, tinyConfig(false), 4)
	seqs := randomSeqs(4, 9, 11, 5)
	s := compute(t, m32, seqs, Options{Metric: choice.GradSquared, Workers: 2})
	for _, c := range sampleCoords(s, 30, 6) {
		p := s.Params[c[0]]
		var want float64
		for _, ids := range seqs {
			g := fdGrad(m64, p, c[1], 1e-5, func() float64 { return seqNLL64(t, m64, ids) })
			want += g * g
		}
		if got := score(t, s, c[0], c[1]); !relClose(got, want, 3e-3, 1e-9) {
			t.Errorf("%s[%d]: grad_squared %g, finite differences %g", s.Tensors[c[0]].Name, c[1], got, want)
		}
	}
}

// TestMagnitude: |w| read from the stored weights.
func TestMagnitude(t *testing.T) {
	m32, _ := tinyPair(t, tinyConfig(false), 7)
	s := compute(t, m32, nil, Options{Metric: choice.Magnitude})
	for k, p := range s.Params {
		for j := 0; j < m32.Params[p].Len(); j++ {
			if got, want := score(t, s, k, j), math.Abs(m32.Params[p].At(j)); got != want {
				t.Fatalf("%s[%d]: %v != |w| = %v", s.Tensors[k].Name, j, got, want)
			}
		}
	}
	// Rank-1 tensors are excluded unless asked for.
	for _, ti := range s.Tensors {
		if len(ti.Shape) < 2 {
			t.Errorf("rank-1 tensor %s scored by default", ti.Name)
		}
	}
	all := compute(t, m32, nil, Options{Metric: choice.Magnitude, IncludeVectors: true})
	if len(all.Tensors) != len(m32.Params) {
		t.Errorf("include vectors: %d of %d tensors", len(all.Tensors), len(m32.Params))
	}
}

// TestHessianDiagAgainstBruteForceFisher: the exact true-Fisher diagonal of
// the mean token loss, (1/N)·Σ_{s,t} Σ_y p(y|x_<t)·(∂ log p(y|x_<t)/∂w)²,
// by enumerating every label y at every position with float64 backward
// passes; the Monte-Carlo estimate must converge to it like 1/√M.
func TestHessianDiagAgainstBruteForceFisher(t *testing.T) {
	m32, m64 := tinyPair(t, tinyConfig(false), 8)
	seqs := randomSeqs(3, 6, 11, 9)
	V := m64.Config.Vocab
	exact := m64.NewGrads64()
	g := m64.NewGrads64()
	for _, ids := range seqs {
		lp := logProbs64(t, m64, ids)
		for r := range lp {
			for y := 0; y < V; y++ {
				p, err := m64.Forward64(ids, &model.ForwardOptions{KeepActivations: true})
				if err != nil {
					t.Fatal(err)
				}
				// d(−log p(y))/dlogits at row r = softmax − onehot(y).
				dl := make([]float64, len(ids)*V)
				for j := 0; j < V; j++ {
					dl[r*V+j] = math.Exp(lp[r][j])
				}
				dl[r*V+y]--
				g.Zero()
				if err := p.Backward(dl, g); err != nil {
					t.Fatal(err)
				}
				p.Release()
				py := math.Exp(lp[r][y])
				for i := range g.G {
					for j, v := range g.G[i] {
						exact.G[i][j] += py * v * v
					}
				}
			}
		}
	}
	n := float64(Tokens(seqs))
	relErr := func(M int) float64 {
		s := compute(t, m32, seqs, Options{Metric: choice.HessianDiag, FisherSamples: M, Seed: 11, Workers: 2})
		var num, den float64
		for k, p := range s.Params {
			for j := range exact.G[p] {
				want := exact.G[p][j] / n
				d := score(t, s, k, j) - want
				num += d * d
				den += want * want
			}
		}
		return math.Sqrt(num / den)
	}
	e16, e256 := relErr(16), relErr(256)
	t.Logf("relative L2 error of the MC Fisher: M=16 %.4f, M=256 %.4f (ratio %.2f, 1/√M predicts 4)", e16, e256, e16/e256)
	if e256 > 0.15 {
		t.Errorf("M=256 estimate is %.3f away from the brute-force Fisher", e256)
	}
	if r := e16 / e256; r < 2.5 || r > 6.5 {
		t.Errorf("error ratio M=16/M=256 is %.2f, 1/√M predicts 4", r)
	}
}

// TestActMagDirect: Wanda scores of layer 0's q/k/v against column norms of
// their input computed by hand from the weights (RMSNorm of the embedded
// tokens times the input_layernorm gain), the embedding against √count, and
// the |w|·norm structure of every other tensor.
func TestActMagDirect(t *testing.T) {
	for _, tied := range []bool{false, true} {
		m32, _ := tinyPair(t, tinyConfig(tied), 12)
		seqs := randomSeqs(6, 12, 11, 13)
		s := compute(t, m32, seqs, Options{Metric: choice.ActMag, Workers: 3})
		cfg := m32.Config
		emb := m32.Param("model.embed_tokens.weight")
		gain := m32.Param("model.layers.0.input_layernorm.weight")
		D := cfg.Dim
		sumsq := make([]float64, D)
		count := make([]float64, cfg.Vocab)
		for _, ids := range seqs {
			for _, id := range ids {
				count[id]++
				var ms float64
				for d := 0; d < D; d++ {
					x := emb.At(id*D + d)
					ms += x * x
				}
				inv := 1 / math.Sqrt(ms/float64(D)+cfg.NormEps)
				for d := 0; d < D; d++ {
					x := emb.At(id*D+d) * inv * gain.At(d)
					sumsq[d] += x * x
				}
			}
		}
		for k, ti := range s.Tensors {
			w := m32.Params[s.Params[k]]
			cols := w.Cols()
			for j := 0; j < w.Len(); j++ {
				var norm float64
				switch ti.Name {
				case "model.embed_tokens.weight":
					norm = math.Sqrt(count[j/cols])
				case "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight":
					norm = math.Sqrt(sumsq[j%cols])
				default:
					// Structure: score/|w| is the same down each column.
					norm = float64(s.norms[k][j%cols])
				}
				want := math.Abs(w.At(j)) * norm
				if got := score(t, s, k, j); !relClose(got, want, 1e-5, 1e-7) {
					t.Fatalf("tied=%v %s[%d]: act_mag %g, direct %g", tied, ti.Name, j, got, want)
				}
			}
		}
	}
}

// TestFirstOrderPrediction: for a small perturbation Δw of many weights the
// measured change of the float64 mean loss matches g·Δw, with g the
// gradient grad_x_weight uses; the second-order remainder shrinks like δ².
func TestFirstOrderPrediction(t *testing.T) {
	m32, m64 := tinyPair(t, tinyConfig(false), 14)
	seqs := randomSeqs(5, 10, 11, 15)
	g, _, err := meanGradient(context.Background(), m32, seqs, 2, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	base := meanNLL64(t, m64, seqs)
	r := rand.New(rand.NewPCG(16, 1))
	type coord struct{ p, j int }
	var cs []coord
	for p, w := range m64.Params {
		for j := 0; j < w.Len(); j += 1 + r.IntN(4) {
			cs = append(cs, coord{p, j})
		}
	}
	dirs := make([]float64, len(cs))
	for i := range dirs {
		dirs[i] = r.NormFloat64()
	}
	var lastRel float64
	for _, delta := range []float64{1e-2, 1e-3} {
		var pred float64
		orig := make([]float64, len(cs))
		for i, c := range cs {
			w := m64.Params[c.p]
			orig[i] = w.At(c.j)
			dw := delta * dirs[i]
			w.Set(c.j, orig[i]+dw)
			pred += float64(g[c.p][c.j]) * dw
		}
		got := meanNLL64(t, m64, seqs) - base
		for i, c := range cs {
			m64.Params[c.p].Set(c.j, orig[i])
		}
		rel := math.Abs(got-pred) / math.Abs(pred)
		t.Logf("δ=%g over %d weights: measured ΔL %.6e, g·Δw %.6e, relative gap %.2e", delta, len(cs), got, pred, rel)
		if delta == 1e-3 && rel > 0.02 {
			t.Errorf("first-order prediction off by %.3f", rel)
		}
		if lastRel > 0 && rel > lastRel/3 {
			t.Errorf("gap did not shrink with δ: %.3e then %.3e", lastRel, rel)
		}
		lastRel = rel
	}
}
