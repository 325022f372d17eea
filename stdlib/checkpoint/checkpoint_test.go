package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esa/internal/testmodels"
	"esa/stdlib/model"
	"esa/stdlib/safetensors"
	"esa/stdlib/tensor"
)

const (
	binRel = "stories260K/stories260K.bin"
	hfRel  = "stories260K-hf"
)

func mustOpen(t *testing.T, path string, opts Options) *Checkpoint {
	t.Helper()
	c, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// The llama2.c file and the HF folder hold the same trained weights; the HF
// q/k rows are the llama2.c rows permuted to the half-split RoPE layout.
func TestStories260KBothFormats(t *testing.T) {
	bin := mustOpen(t, testmodels.Path(t, binRel), Options{})
	hf := mustOpen(t, testmodels.Path(t, hfRel), Options{})

	if !bin.Config.RopeInterleaved || hf.Config.RopeInterleaved {
		t.Errorf("RopeInterleaved: bin %v, hf %v", bin.Config.RopeInterleaved, hf.Config.RopeInterleaved)
	}
	a, b := bin.Config, hf.Config
	a.RopeInterleaved, a.DType, b.DType = false, "", ""
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("configs differ:\n bin %+v\n hf  %+v", a, b)
	}
	for _, c := range []*Checkpoint{bin, hf} {
		if p, s := c.Parameters(), c.ScoredWeights(); p != 260032 || s != 259328 {
			t.Errorf("%s: parameters %d scored %d, want 260032 and 259328", c.Path, p, s)
		}
		if c.Bytes() != 4*260032 || fmt.Sprint(c.DTypes()) != "[F32]" {
			t.Errorf("%s: bytes %d dtypes %v", c.Path, c.Bytes(), c.DTypes())
		}
	}
	if len(bin.Tensors) != len(hf.Tensors) {
		t.Fatalf("%d vs %d tensors", len(bin.Tensors), len(hf.Tensors))
	}
	hd := bin.Config.HeadDim
	for i, bt := range bin.Tensors {
		ht := hf.Tensors[i]
		if bt.Name != ht.Name || fmt.Sprint(bt.Shape) != fmt.Sprint(ht.Shape) {
			t.Fatalf("tensor %d: %s %v vs %s %v", i, bt.Name, bt.Shape, ht.Name, ht.Shape)
		}
		if !strings.HasSuffix(bt.Name, "q_proj.weight") && !strings.HasSuffix(bt.Name, "k_proj.weight") {
			if !bytes.Equal(bt.Data, ht.Data) {
				t.Errorf("%s differs between the formats", bt.Name)
			}
			continue
		}
		cols := bt.Cols()
		for r := 0; r < bt.Rows(); r++ {
			hr := PermuteHF(r, hd)
			if !bytes.Equal(bt.Data[4*r*cols:4*(r+1)*cols], ht.Data[4*hr*cols:4*(hr+1)*cols]) {
				t.Fatalf("%s: llama2.c row %d is not HF row %d", bt.Name, r, hr)
			}
		}
	}
}

func TestPermuteHFIsPermutation(t *testing.T) {
	seen := map[int]bool{}
	for r := 0; r < 3*8; r++ {
		seen[PermuteHF(r, 8)] = true
	}
	if len(seen) != 24 || PermuteHF(2, 8) != 1 || PermuteHF(1, 8) != 4 || PermuteHF(9, 8) != 12 {
		t.Errorf("PermuteHF wrong: %v", seen)
	}
}

// In-place perturbation of a loaded weight must never reach the file.
func TestCopyOnWriteBin(t *testing.T) {
	src := testmodels.Path(t, binRel)
	before, _ := os.ReadFile(src)
	c := mustOpen(t, src, Options{})
	w := c.Tensor("model.layers.0.mlp.down_proj.weight")
	w.Set(3, 1e30)
	if w.At(3) != float64(float32(1e30)) {
		t.Fatal("edit not visible")
	}
	c2 := mustOpen(t, src, Options{})
	if c2.Tensor("model.layers.0.mlp.down_proj.weight").At(3) == w.At(3) {
		t.Error("a second open sees the edit")
	}
	after, _ := os.ReadFile(src)
	if !bytes.Equal(before, after) {
		t.Fatal("the checkpoint file changed")
	}
}

// writeLegacy writes a version-0 llama2.c file the way llama2.c's
// legacy_export does, with a separate classifier when head is not nil.
func writeLegacy(t *testing.T, path string, c *Checkpoint, head []float32) {
	cfg := c.Config
	var buf bytes.Buffer
	vocab := int32(cfg.Vocab)
	if head != nil {
		vocab = -vocab
	}
	binary.Write(&buf, binary.LittleEndian, []int32{int32(cfg.Dim), int32(cfg.Hidden), int32(cfg.Layers), int32(cfg.Heads), int32(cfg.KVHeads), vocab, int32(cfg.MaxSeqLen)})
	put := func(name string) { buf.Write(c.Tensor(name).Data) }
	layers := func(suffix string) {
		for l := 0; l < cfg.Layers; l++ {
			put(fmt.Sprintf("model.layers.%d.%s", l, suffix))
		}
	}
	put("model.embed_tokens.weight")
	for _, s := range []string{"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"post_attention_layernorm", "mlp.gate_proj", "mlp.down_proj", "mlp.up_proj"} {
		layers(s + ".weight")
	}
	put("model.norm.weight")
	buf.Write(make([]byte, 2*4*cfg.MaxSeqLen*cfg.HeadDim/2)) // freq_cis_real, freq_cis_imag
	if head != nil {
		binary.Write(&buf, binary.LittleEndian, head)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeV1 writes llama2.c export.py's version 1 layout.
func writeV1(t *testing.T, path string, c *Checkpoint) {
	cfg := c.Config
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint32(0x616b3432))
	binary.Write(&buf, binary.LittleEndian, int32(1))
	binary.Write(&buf, binary.LittleEndian, []int32{int32(cfg.Dim), int32(cfg.Hidden), int32(cfg.Layers), int32(cfg.Heads), int32(cfg.KVHeads), int32(cfg.Vocab), int32(cfg.MaxSeqLen)})
	buf.WriteByte(1) // shared classifier
	buf.Write(make([]byte, 256-buf.Len()))
	put := func(name string) { buf.Write(c.Tensor(name).Data) }
	layers := func(suffix string) {
		for l := 0; l < cfg.Layers; l++ {
			put(fmt.Sprintf("model.layers.%d.%s", l, suffix))
		}
	}
	layers("input_layernorm.weight")
	layers("post_attention_layernorm.weight")
	put("model.norm.weight")
	put("model.embed_tokens.weight")
	for _, s := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj", "mlp.up_proj"} {
		layers(s + ".weight")
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameTensors(t *testing.T, a, b *Checkpoint) {
	t.Helper()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d vs %d tensors", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		x, y := a.Tensors[i], b.Tensors[i]
		if x.Name != y.Name || x.DType != y.DType || fmt.Sprint(x.Shape) != fmt.Sprint(y.Shape) || !bytes.Equal(x.Data, y.Data) {
			t.Errorf("tensor %d: %s %v differs from %s %v", i, x.Name, x.Shape, y.Name, y.Shape)
		}
	}
}

func TestLlama2CVersions(t *testing.T) {
	ref := mustOpen(t, testmodels.Path(t, binRel), Options{})
	dir := t.TempDir()

	v1 := filepath.Join(dir, "v1.bin")
	writeV1(t, v1, ref)
	sameTensors(t, ref, mustOpen(t, v1, Options{}))

	// Unshared classifier: negative vocab_size and wcls after freq_cis.
	head := make([]float32, ref.Config.Vocab*ref.Config.Dim)
	for i := range head {
		head[i] = float32(i%97) * 0.01
	}
	untied := filepath.Join(dir, "untied.bin")
	writeLegacy(t, untied, ref, head)
	u := mustOpen(t, untied, Options{})
	if u.Config.TiedEmbeds {
		t.Error("negative vocab_size must give an untied head")
	}
	lm := u.Tensor("lm_head.weight")
	if lm == nil || u.Tensors[len(u.Tensors)-1] != lm || fmt.Sprint(lm.Shape) != "[512 64]" || lm.F32()[200] != head[200] {
		t.Fatalf("lm_head.weight wrong: %v", lm)
	}
	if u.Parameters() != 260032+512*64 || u.ScoredWeights() != 259328+512*64 {
		t.Errorf("untied counts %d %d", u.Parameters(), u.ScoredWeights())
	}
}

func TestLlama2CCorrupt(t *testing.T) {
	src, _ := os.ReadFile(testmodels.Path(t, binRel))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := Open(write("trunc.bin", src[:len(src)-10]), Options{})
	wantErr(t, err, "trunc.bin", "1056530 bytes", "implies 1056540 bytes")

	bad := append([]byte(nil), src...)
	binary.LittleEndian.PutUint32(bad[16:], 3) // n_kv_heads 3 does not divide 8
	_, err = Open(write("kv.bin", bad), Options{})
	wantErr(t, err, "kv.bin", "n_kv_heads = 3")

	binary.LittleEndian.PutUint32(bad[16:], 4)
	binary.LittleEndian.PutUint32(bad[0:], 1<<24) // absurd dim: must not overflow or allocate
	_, err = Open(write("dim.bin", bad), Options{})
	wantErr(t, err, "dim.bin", "implies")

	_, err = Open(write("tiny.bin", src[:12]), Options{})
	wantErr(t, err, "tiny.bin", "shorter than the 28-byte header")

	v2 := make([]byte, 300)
	binary.LittleEndian.PutUint32(v2, 0x616b3432)
	binary.LittleEndian.PutUint32(v2[4:], 2)
	_, err = Open(write("v2.bin", v2), Options{})
	wantErr(t, err, "v2.bin", "version 2 is not supported")
}

// copyHF makes a writable HF folder from the shared one with tensors
// rewritten by edit (nil: unchanged).
func copyHF(t *testing.T, edit func([]*tensor.Tensor) []*tensor.Tensor) (string, []*tensor.Tensor) {
	t.Helper()
	src := testmodels.Path(t, hfRel)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	st, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := st.Tensors
	if edit != nil {
		ts = edit(append([]*tensor.Tensor(nil), ts...))
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dir, st.Tensors
}

func TestHFCorrupt(t *testing.T) {
	dir, _ := copyHF(t, nil)
	file := filepath.Join(dir, "model.safetensors")
	good, _ := os.ReadFile(file)
	hlen := int(binary.LittleEndian.Uint64(good))
	header := string(good[8 : 8+hlen])

	os.WriteFile(file, good[:len(good)-100], 0o644)
	_, err := Open(dir, Options{})
	wantErr(t, err, file, "model.norm.weight", "past the end")

	b := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(b, uint64(len(good)))
	os.WriteFile(file, b, 0o644)
	_, err = Open(dir, Options{})
	wantErr(t, err, file, "header length", "past the end of the file")

	// Overlap: point the second tensor's data back into the first.
	swap := func(old, new string) {
		h := strings.Replace(header, old, new, 1)
		if h == header || len(h) != len(header) {
			t.Fatalf("bad test edit %q -> %q", old, new)
		}
		b := append([]byte(nil), good...)
		copy(b[8:], h)
		os.WriteFile(file, b, 0o644)
	}
	swap(`"data_offsets":[131072,131328]`, `"data_offsets":[131000,131256]`)
	_, err = Open(dir, Options{})
	wantErr(t, err, file, "model.layers.0.input_layernorm.weight", "overlap", "model.embed_tokens.weight")

	swap(`"dtype":"F32","shape":[512,64]`, `"dtype":"F16","shape":[512,64]`)
	_, err = Open(dir, Options{})
	wantErr(t, err, file, "model.embed_tokens.weight", "F16", "needs 65536 bytes")

	swap(`"dtype":"F32","shape":[512,64]`, `"dtype":"I32","shape":[512,64]`)
	_, err = Open(dir, Options{})
	wantErr(t, err, file, "model.embed_tokens.weight", "I32", "not supported")

	// Missing and unexpected tensors, and a shape the config does not fit.
	dir2, _ := copyHF(t, func(ts []*tensor.Tensor) []*tensor.Tensor { return ts[1:] })
	_, err = Open(dir2, Options{})
	wantErr(t, err, dir2, "missing 1 tensor", "model.embed_tokens.weight")

	dir3, _ := copyHF(t, func(ts []*tensor.Tensor) []*tensor.Tensor {
		return append(ts, tensor.New("model.layers.9.mlp.extra.weight", tensor.F32, 2, 2))
	})
	_, err = Open(dir3, Options{})
	wantErr(t, err, "unexpected tensor model.layers.9.mlp.extra.weight", filepath.Join(dir3, "model.safetensors"))

	dir4, _ := copyHF(t, nil)
	cfg, _ := os.ReadFile(filepath.Join(dir4, "config.json"))
	os.WriteFile(filepath.Join(dir4, "config.json"), bytes.Replace(cfg, []byte(`"intermediate_size": 172`), []byte(`"intermediate_size": 170`), 1), 0o644)
	_, err = Open(dir4, Options{})
	wantErr(t, err, "model.layers.0.mlp.gate_proj.weight", "[172 64]", "implies [170 64]", "model.safetensors")

	os.WriteFile(filepath.Join(dir4, "config.json"), bytes.Replace(cfg, []byte(`"num_key_value_heads": 4`), []byte(`"num_key_value_heads": 3`), 1), 0o644)
	_, err = Open(dir4, Options{})
	wantErr(t, err, filepath.Join(dir4, "config.json"), "num_key_value_heads = 3")

	os.Remove(filepath.Join(dir4, "model.safetensors"))
	os.WriteFile(filepath.Join(dir4, "config.json"), cfg, 0o644)
	os.WriteFile(filepath.Join(dir4, "pytorch_model.bin"), []byte("x"), 0o644)
	_, err = Open(dir4, Options{})
	wantErr(t, err, "neither model.safetensors", "pytorch_model.bin", "not supported")
}

func TestSharded(t *testing.T) {
	single := mustOpen(t, testmodels.Path(t, hfRel), Options{})
	dir, ts := copyHF(t, nil)
	os.Remove(filepath.Join(dir, "model.safetensors"))
	half := len(ts) / 2
	shards := [][]*tensor.Tensor{ts[:half], ts[half:]}
	wm := map[string]string{}
	for i, sh := range shards {
		name := fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)
		if err := safetensors.Write(filepath.Join(dir, name), sh, nil); err != nil {
			t.Fatal(err)
		}
		for _, x := range sh {
			wm[x.Name] = name
		}
	}
	writeIndex := func(wm map[string]string) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1040128}, "weight_map": wm})
		os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), b, 0o644)
	}
	writeIndex(wm)
	c := mustOpen(t, dir, Options{})
	sameTensors(t, single, c)
	if len(c.Files) != 2 {
		t.Errorf("files %v", c.Files)
	}

	wrong := map[string]string{}
	for k, v := range wm {
		wrong[k] = v
	}
	wrong["model.norm.weight"] = "model-00001-of-00002.safetensors"
	writeIndex(wrong)
	_, err := Open(dir, Options{})
	wantErr(t, err, "model.safetensors.index.json", "model.norm.weight", "listed in model-00001-of-00002.safetensors but stored in")

	delete(wrong, "model.norm.weight")
	writeIndex(wrong)
	_, err = Open(dir, Options{})
	wantErr(t, err, "model.safetensors.index.json", "holds tensor model.norm.weight that the index does not list")

	writeIndex(wm)
	os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
	_, err = Open(dir, Options{})
	wantErr(t, err, "model.safetensors.index.json", "shard", "model-00002-of-00002.safetensors is missing")
}

func TestHubCache(t *testing.T) {
	src := testmodels.Path(t, hfRel)
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HOME", filepath.Join(cache, "unused"))
	repo := filepath.Join(cache, "models--karpathy--stories260K")
	link := func(rev string) string {
		snap := filepath.Join(repo, "snapshots", rev)
		os.MkdirAll(snap, 0o755)
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
			if err := os.Symlink(filepath.Join(src, f), filepath.Join(snap, f)); err != nil {
				t.Fatal(err)
			}
		}
		return snap
	}
	a := link("aaaa1111")
	c := mustOpen(t, "karpathy/stories260K", Options{})
	if c.Path != a || c.Parameters() != 260032 {
		t.Errorf("single snapshot: path %s params %d", c.Path, c.Parameters())
	}
	b := link("bbbb2222")
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("aaaa1111\n"), 0o644)
	if dir, err := ResolveHub("karpathy/stories260K"); err != nil || dir != a {
		t.Errorf("refs/main: %s %v", dir, err)
	}
	if dir, err := ResolveHub("karpathy/stories260K@bbbb2222"); err != nil || dir != b {
		t.Errorf("@commit: %s %v", dir, err)
	}
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("cccc3333"), 0o644)
	_, err := ResolveHub("karpathy/stories260K")
	wantErr(t, err, "refs/main names snapshot cccc3333")

	_, err = Open("nobody/nothing", Options{})
	wantErr(t, err, `"nobody/nothing" is not in the local Hugging Face cache`, filepath.Join(cache, "models--nobody--nothing"), "no network")

	_, err = Open("./no/such/dir", Options{})
	wantErr(t, err, "./no/such/dir", "no such file")
}

func TestConvertBF16RoundTrip(t *testing.T) {
	ref := mustOpen(t, testmodels.Path(t, hfRel), Options{})
	c := mustOpen(t, testmodels.Path(t, hfRel), Options{DType: "bf16"})
	if fmt.Sprint(c.DTypes()) != "[BF16]" || c.Bytes() != ref.Bytes()/2 {
		t.Fatalf("dtypes %v bytes %d", c.DTypes(), c.Bytes())
	}
	for i, x := range c.Tensors {
		r := ref.Tensors[i].F32()
		for j := range r {
			if x.Bits(j) != uint64(tensor.F32ToBF16(r[j])) {
				t.Fatalf("%s[%d]: bits %x, want bf16(%v)", x.Name, j, x.Bits(j), r[j])
			}
			if d := math.Abs(x.At(j) - float64(r[j])); d > math.Abs(float64(r[j]))/256 {
				t.Fatalf("%s[%d]: %v vs %v beyond bf16 precision", x.Name, j, x.At(j), r[j])
			}
		}
	}
	// A bf16 checkpoint written back to disk loads bit for bit.
	dir, _ := copyHF(t, nil)
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), c.Tensors, nil); err != nil {
		t.Fatal(err)
	}
	back := mustOpen(t, dir, Options{})
	sameTensors(t, c, back)

	_, err := Open(testmodels.Path(t, hfRel), Options{DType: "int8"})
	wantErr(t, err, `"int8"`, "fp32, bf16, fp16")
}

func TestTokenizers(t *testing.T) {
	bin := mustOpen(t, testmodels.Path(t, binRel), Options{})
	hf := mustOpen(t, testmodels.Path(t, hfRel), Options{})
	for _, c := range []*Checkpoint{bin, hf} {
		if c.Tokenizer == nil {
			t.Fatalf("%s: no tokenizer: %v", c.Path, c.TokenizerErr)
		}
	}
	text := "Once upon a time, Lily saw a big red ball."
	a, b := bin.Tokenizer.Encode(text), hf.Tokenizer.Encode(text)
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) == 0 {
		t.Errorf("ids differ: %v vs %v", a, b)
	}
	if bin.Tokenizer.BOS() != 1 || hf.Tokenizer.BOS() != 1 || !hf.Tokenizer.AddBOS() {
		t.Errorf("BOS: %d %d", bin.Tokenizer.BOS(), hf.Tokenizer.BOS())
	}

	// A .bin without a tokenizer beside it loads, and says where it looked.
	dir := t.TempDir()
	src, _ := os.ReadFile(testmodels.Path(t, binRel))
	lone := filepath.Join(dir, "model.bin")
	os.WriteFile(lone, src, 0o644)
	c := mustOpen(t, lone, Options{})
	_, err := c.NeedTokenizer()
	wantErr(t, err, filepath.Join(dir, "tok512.bin"), filepath.Join(dir, "tokenizer.bin"), "--tokenizer")

	// An explicit tokenizer is used, and a bad one is an error.
	c = mustOpen(t, lone, Options{Tokenizer: testmodels.Path(t, "stories260K/tok512.bin")})
	if c.Tokenizer == nil || fmt.Sprint(c.Tokenizer.Encode(text)) != fmt.Sprint(a) {
		t.Error("explicit tokenizer not used")
	}
	c = mustOpen(t, lone, Options{Tokenizer: testmodels.Path(t, hfRel+"/tokenizer.json")})
	if c.Tokenizer == nil || fmt.Sprint(c.Tokenizer.Encode(text)) != fmt.Sprint(a) {
		t.Error("explicit tokenizer.json not used")
	}
	_, err = Open(lone, Options{Tokenizer: filepath.Join(dir, "none.bin")})
	wantErr(t, err, "none.bin")
}

// BenchmarkOpen reports what opening costs in Go heap: with the copy-on-write
// map the tensors are not copied, so B/op stays far below the file size.
func BenchmarkOpen(b *testing.B) {
	for _, rel := range []string{hfRel, binRel} {
		b.Run(filepath.Base(rel), func(b *testing.B) {
			path := testmodels.Path(b, rel)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// writeFamily writes a tiny checkpoint of another family with names as the
// Hugging Face files store them, buffers included.
func writeFamily(t *testing.T, cfgJSON string, rename func(string) string, extra ...*tensor.Tensor) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfgJSON), 0o644)
	cfg, err := model.ParseHFConfig([]byte(cfgJSON))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := model.ParamSpecs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ts []*tensor.Tensor
	var n int64
	for i, s := range specs {
		x := tensor.New(rename(s.Name), tensor.BF16, s.Shape...)
		for j := 0; j < x.Len(); j++ {
			x.Set(j, float64(i+j%7))
		}
		ts = append(ts, x)
		n += int64(x.Len())
	}
	ts = append(ts, extra...)
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir, n
}

func TestOtherFamiliesNames(t *testing.T) {
	// GPT-2 files saved from GPT2Model lack the "transformer." prefix and
	// carry causal-mask buffers.
	gpt2 := `{"model_type":"gpt2","n_embd":8,"n_layer":2,"n_head":2,"vocab_size":16,"n_positions":8}`
	dir, n := writeFamily(t, gpt2, func(s string) string { return strings.TrimPrefix(s, "transformer.") },
		tensor.New("h.0.attn.bias", tensor.F32, 1, 1, 8, 8), tensor.New("h.1.attn.bias", tensor.F32, 1, 1, 8, 8))
	c := mustOpen(t, dir, Options{})
	if c.Parameters() != n || c.Tensor("transformer.h.1.mlp.c_proj.weight") == nil || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "2 stored buffer(s)") {
		t.Errorf("gpt2: params %d (want %d), notes %v", c.Parameters(), n, c.Notes)
	}
	if c.Tensor("transformer.h.0.attn.c_attn.weight").DType != tensor.BF16 {
		t.Error("dtype not kept")
	}
	neox := `{"model_type":"gpt_neox","hidden_size":8,"intermediate_size":32,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":16,"rotary_pct":0.5}`
	dir, n = writeFamily(t, neox, func(s string) string { return s },
		tensor.New("gpt_neox.layers.0.attention.rotary_emb.inv_freq", tensor.F32, 1))
	c = mustOpen(t, dir, Options{})
	if c.Parameters() != n || c.Config.RotaryDim != 2 || fmt.Sprint(c.DTypes()) != "[BF16]" {
		t.Errorf("neox: params %d (want %d), rotary %d", c.Parameters(), n, c.Config.RotaryDim)
	}
}

func TestTiedHeadStored(t *testing.T) {
	var emb *tensor.Tensor
	dir, _ := copyHF(t, func(ts []*tensor.Tensor) []*tensor.Tensor {
		emb = ts[0]
		lm := &tensor.Tensor{Name: "lm_head.weight", Shape: emb.Shape, DType: emb.DType, Data: emb.Data}
		return append(ts, lm)
	})
	c := mustOpen(t, dir, Options{})
	if c.Tensor("lm_head.weight") != nil || c.Parameters() != 260032 || len(c.Notes) != 1 {
		t.Errorf("stored tied head: params %d notes %v", c.Parameters(), c.Notes)
	}
	dir, _ = copyHF(t, func(ts []*tensor.Tensor) []*tensor.Tensor {
		lm := ts[0].Convert(tensor.F32)
		lm.Name = "lm_head.weight"
		lm.Set(5, 3)
		return append(ts, lm)
	})
	_, err := Open(dir, Options{})
	wantErr(t, err, "lm_head.weight differs from the embedding", "tie_word_embeddings", "model.safetensors")
}
