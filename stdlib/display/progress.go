package display

import (
	"fmt"
	"html"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress reports a long operation in one output that updates in place:
// an HTML bar with a text fallback in Jupyter and `esa run` (through the
// installed sink), a carriage-return bar on standard error in terminal
// programs. It implements progress.Reporter, so it can be handed to any esa
// call; updates are throttled so a hot loop costs nothing noticeable.
type Progress struct {
	mu    sync.Mutex
	d     *Display
	last  time.Time
	phase string
	shown bool
}

// NewProgress returns a progress output; nothing is shown until the first report.
func NewProgress() *Progress { return &Progress{d: New()} }

// Progress shows phase at done of total (total 0: unknown).
func (p *Progress) Progress(phase string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	final := total > 0 && done >= total
	if !final && phase == p.phase && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.phase = time.Now(), phase
	line := progressLine(phase, done, total)
	if !Hosted() {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(os.Stderr, "\r\033[K%s%s", line, end)
		return
	}
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	p.d.Bundle(map[string]any{
		"text/plain": line,
		"text/html": fmt.Sprintf(`<div style="font-family:monospace">%s <progress value="%d" max="%d" style="width:40%%"></progress> %d/%d (%.0f%%)</div>`,
			html.EscapeString(phase), done, max(total, 1), done, total, 100*frac),
	})
}

// progressLine is the text rendering: "phase [=====     ] 12/40".
func progressLine(phase string, done, total int) string {
	if total <= 0 {
		return fmt.Sprintf("%s %d", phase, done)
	}
	const width = 30
	n := min(width, done*width/total)
	return fmt.Sprintf("%s [%s%s] %d/%d", phase, strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total)
}
