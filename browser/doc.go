// Package browser holds the real-browser test of the notebooks: Debian's
// jupyter-notebook server with the esa kernel installed, driven by headless
// Debian chromium through chromedp, runs notebooks/00_quickstart.ipynb the
// way a user would and checks what the page shows. The package has no
// non-test code; see browser_test.go.
//
// The test skips with a message when chromium or jupyter-notebook is absent;
// ESA_REQUIRE_BROWSER=1 (CI) turns that into a failure. It writes a
// screenshot to $ESA_ARTIFACTS/quickstart.png (default
// /tmp/esa-artifacts/quickstart.png), and with ESA_UPDATE_SCREENSHOT=1 also
// to docs/quickstart.png, the README's picture. ESA_BIN=path tests an esa
// binary built elsewhere instead of building one.
package browser
