package display

import (
	"strings"
	"testing"
)

// Reports go to one display id: the first shows, the rest update in place,
// and the final report is never throttled away.
func TestProgressUpdatesInPlace(t *testing.T) {
	var got []Output
	SetSink(func(o Output) { got = append(got, o) })
	defer SetSink(nil)
	p := NewProgress()
	p.Progress("score", 0, 10)
	for i := 1; i <= 10; i++ {
		p.Progress("score", i, 10)
	}
	if len(got) < 2 {
		t.Fatalf("%d outputs, want the first and the final at least", len(got))
	}
	if got[0].Update || !got[len(got)-1].Update || got[0].DisplayID != got[len(got)-1].DisplayID {
		t.Fatalf("not one output updated in place: %+v", got)
	}
	last := got[len(got)-1].Data["text/plain"].(string)
	if !strings.Contains(last, "10/10") || !strings.Contains(last, strings.Repeat("=", 30)) {
		t.Fatalf("final text %q", last)
	}
}
