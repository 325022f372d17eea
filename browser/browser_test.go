package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esa/internal/testmodels"
)

// The notebook the test runs, relative to the repository root.
const quickstart = "notebooks/00_quickstart.ipynb"

// TestQuickstartInBrowser opens the quickstart notebook in Jupyter in a real
// browser, runs all cells, and checks that the page shows the plot as a PNG
// image and no error or stderr output, as a user would see it.
func TestQuickstartInBrowser(t *testing.T) {
	chromium, notebook := needTools(t)
	root := testmodels.RepoRoot()
	if root == "" {
		t.Fatal("repository root (go.mod) not found from the working directory")
	}
	tmp := t.TempDir()
	esa := esaBinary(t, root, tmp)

	// The kernelspec goes into a temporary prefix that only this server reads.
	prefix := filepath.Join(tmp, "prefix")
	if out, err := exec.Command(esa, "install", "--prefix", prefix).CombinedOutput(); err != nil {
		t.Fatalf("esa install --prefix: %v\n%s", err, out)
	}
	// A copy of the notebook without its committed outputs (so only what
	// this run computes can satisfy the checks; the browser also saves into
	// it) beside the data folder its parameters name.
	nbDir := filepath.Join(tmp, "notebooks")
	if err := os.MkdirAll(nbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCleared(t, filepath.Join(root, quickstart), filepath.Join(nbDir, filepath.Base(quickstart)))
	if err := os.Symlink(filepath.Join(root, "notebooks", "data"), filepath.Join(nbDir, "data")); err != nil {
		t.Fatal(err)
	}
	srv := startJupyter(t, notebook, nbDir, filepath.Join(prefix, "share", "jupyter"))

	ctx, cancel := browserContext(t, chromium, tmp)
	defer cancel()

	url := srv.URL + "/notebooks/" + filepath.Base(quickstart)
	t0 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	// The kernel is ready when the notebook has loaded and its kernel
	// connection is up.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`typeof Jupyter !== "undefined" && Jupyter.notebook && Jupyter.notebook._fully_loaded && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() && document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null`,
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("the esa kernel did not become ready in 90 s: %v\nserver log:\n%s", err, srv.log.String())
	}
	t.Logf("kernel ready after %.1f s", time.Since(t0).Seconds())
	before, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	if before.PNGs+before.BrokenPNGs > 0 || before.Outputs > 0 {
		t.Fatalf("the page shows %d outputs before any cell ran", before.Outputs)
	}
	t1 := time.Now()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`Jupyter.notebook.execute_all_cells()`)); err != nil {
		t.Fatalf("run all cells: %v", err)
	}
	// Done when every code cell shows an execution count (not "*") and the
	// kernel is idle again.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Jupyter.notebook.get_cells().filter(c => c.cell_type === "code").every(c => typeof c.input_prompt_number === "number") && document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null`,
		chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(5*time.Minute))); err != nil {
		t.Errorf("the cells did not all finish in 5 minutes: %v\nserver log:\n%s", err, srv.log.String())
	}
	t.Logf("all cells ran in %.1f s", time.Since(t1).Seconds())

	page, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	shot := screenshot(t, ctx)
	if page.Cells == 0 {
		t.Errorf("the page shows no code cells")
	}
	if page.PNGs == 0 {
		t.Errorf("no rendered image/png output on the page (the plot is missing); %d code cells, %d outputs", page.Cells, page.Outputs)
	}
	if page.BrokenPNGs > 0 {
		t.Errorf("%d PNG outputs did not decode in the browser", page.BrokenPNGs)
	}
	for _, e := range page.Errors {
		t.Errorf("error output on the page:\n%s", e)
	}
	for _, e := range page.Stderr {
		t.Errorf("stderr output on the page:\n%s", e)
	}
	t.Logf("%d code cells, %d outputs, %d PNG images (largest %d×%d px); screenshot %s", page.Cells, page.Outputs, page.PNGs, page.MaxPNGWidth, page.MaxPNGHeight, shot)
}

// writeCleared copies a notebook with every code cell's outputs and
// execution count removed.
func writeCleared(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var nb map[string]any
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	cells, _ := nb["cells"].([]any)
	for _, c := range cells {
		if cell, ok := c.(map[string]any); ok && cell["cell_type"] == "code" {
			cell["outputs"] = []any{}
			cell["execution_count"] = nil
		}
	}
	out, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// needTools finds chromium and jupyter-notebook, or skips (fails under
// ESA_REQUIRE_BROWSER=1).
func needTools(t *testing.T) (chromium, notebook string) {
	t.Helper()
	require := os.Getenv("ESA_REQUIRE_BROWSER") == "1"
	var missing []string
	chromium = os.Getenv("ESA_CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		missing = append(missing, "chromium (Debian: apt-get install chromium)")
	}
	notebook, err := exec.LookPath("jupyter-notebook")
	if err != nil {
		missing = append(missing, "jupyter-notebook (Debian: apt-get install jupyter-notebook)")
	}
	switch {
	case len(missing) > 0 && require:
		t.Fatalf("ESA_REQUIRE_BROWSER=1 but missing: %s", strings.Join(missing, ", "))
	case len(missing) > 0:
		t.Skipf("real-browser test skipped, missing: %s (ESA_REQUIRE_BROWSER=1 makes this a failure)", strings.Join(missing, ", "))
	case testing.Short() && !require:
		t.Skip("real-browser test skipped in -short mode")
	}
	return chromium, notebook
}

// esaBinary is $ESA_BIN, or esa built from the repository.
func esaBinary(t *testing.T, root, tmp string) string {
	t.Helper()
	if p := os.Getenv("ESA_BIN"); p != "" {
		return p
	}
	out := filepath.Join(tmp, "esa")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/esa")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/esa: %v\n%s", err, b)
	}
	return out
}

// browserContext starts headless chromium with a new empty profile and the
// flags that keep it off the network (the machine notes' list).
func browserContext(t *testing.T, chromium, tmp string) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(filepath.Join(tmp, "chromium-profile")),
		chromedp.WindowSize(1280, 1024),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	return ctx, func() { cancel(); acancel() }
}

// pageState is what the rendered notebook shows.
type pageState struct {
	Cells        int      `json:"cells"`
	Outputs      int      `json:"outputs"`
	PNGs         int      `json:"pngs"`
	BrokenPNGs   int      `json:"broken_pngs"`
	MaxPNGWidth  int      `json:"max_png_width"`
	MaxPNGHeight int      `json:"max_png_height"`
	Errors       []string `json:"errors"`
	Stderr       []string `json:"stderr"`
}

// pageStateJS reads the classic notebook's DOM: output areas, rendered PNG
// images (decoded: naturalWidth > 0), error and stderr outputs.
const pageStateJS = `(() => {
	const imgs = [...document.querySelectorAll(".output_area img")].filter(i => i.src.startsWith("data:image/png"));
	const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
	return {
		cells: document.querySelectorAll(".cell.code_cell").length,
		outputs: document.querySelectorAll(".output_area").length,
		pngs: ok.length,
		broken_pngs: imgs.length - ok.length,
		max_png_width: Math.max(0, ...ok.map(i => i.naturalWidth)),
		max_png_height: Math.max(0, ...ok.map(i => i.naturalHeight)),
		errors: [...document.querySelectorAll(".output_error")].map(e => e.innerText),
		stderr: [...document.querySelectorAll(".output_stderr")].map(e => e.innerText),
	};
})()`

// screenshot captures the whole notebook (the viewport is grown to the
// notebook's height, since the classic notebook scrolls inside #site) into
// the artefact folder, and into docs/ when ESA_UPDATE_SCREENSHOT=1.
func screenshot(t *testing.T, ctx context.Context) string {
	t.Helper()
	h, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.ceil(document.querySelector("#notebook-container").scrollHeight + document.querySelector("#header").offsetHeight + 60)`))
	if err != nil {
		t.Fatalf("measure the page: %v", err)
	}
	if h < 600 {
		h = 600
	}
	// Grow the viewport, then scroll to the top (running the cells scrolled
	// the notebook to its last cell).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, int64(h)), chromedp.Sleep(700*time.Millisecond),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#site").scrollTop = 0; window.scrollTo(0, 0)`), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatalf("resize the viewport: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ESA_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "esa-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "quickstart.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ESA_UPDATE_SCREENSHOT") == "1" {
		docs := filepath.Join(testmodels.RepoRoot(), "docs", "quickstart.png")
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docs, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", docs)
	}
	return fmt.Sprintf("%s (%d bytes, 1280×%d)", path, len(png), h)
}
