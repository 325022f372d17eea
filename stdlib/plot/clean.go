package plot

import (
	"fmt"
	"math"
	"strings"
)

// finite returns the finite values of xs and how many were NaN or ±Inf.
func finite(xs []float64) (out []float64, skipped int) {
	out = make([]float64, 0, len(xs))
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			skipped++
			continue
		}
		out = append(out, x)
	}
	return out, skipped
}

// isFinite reports whether x is neither NaN nor ±Inf.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// spansDecades reports whether positive values lo..hi differ by at least a factor
// of 100, the point from which a linear axis squashes the small values to nothing.
func spansDecades(lo, hi float64) bool {
	return lo > 0 && hi/lo >= 100
}

// joinNotes joins the non-empty parts with "; ".
func joinNotes(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "; ")
}

// skippedNote says how many non-finite values were left out ("3 NaN/Inf scores
// skipped"), or "" when none. what is the singular noun.
func skippedNote(n int, what string) string {
	if n == 0 {
		return ""
	}
	return plural(n, "NaN/Inf "+what) + " skipped"
}

// checkLabels rejects a label slice whose length does not match the data.
func checkLabels(fn, what string, labels int, want int) error {
	if labels != want {
		return fmt.Errorf("plot.%s: %d %s for %d values (need one each)", fn, labels, what, want)
	}
	return nil
}
