package display

import (
	"strings"
	"testing"
)

func TestTableRendersHTMLAndText(t *testing.T) {
	tb := NewTable([]string{"set", "ΔPPL", "note"})
	tb.AddRow([]any{"top_k", 12.345678, "<b>"})
	tb.AddRow([]any{"random_k", 0.5})
	b := tb.MIMEBundle()
	h := b["text/html"].(string)
	for _, want := range []string{"<th>ΔPPL</th>", `<td style="text-align:right">12.35</td>`, "&lt;b&gt;", "<td style=\"text-align:left\">random_k</td>"} {
		if !strings.Contains(h, want) {
			t.Fatalf("HTML lacks %q:\n%s", want, h)
		}
	}
	want := "set       ΔPPL   note\n" +
		"--------  -----  ----\n" +
		"top_k     12.35  <b>\n" +
		"random_k    0.5"
	if got := b["text/plain"].(string); got != want {
		t.Fatalf("text:\n%q\nwant\n%q", got, want)
	}
}
