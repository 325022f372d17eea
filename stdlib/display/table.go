package display

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"
)

// Table is a table of results: an HTML table in Jupyter and saved notebooks,
// aligned plain text elsewhere (and as the text/plain fallback). Build it with
// NewTable and AddRow, show it with Show (or display.Show).
type Table struct {
	headers []string
	rows    [][]string
}

// NewTable starts a table with the given column headers.
func NewTable(headers []string) *Table {
	return &Table{headers: append([]string(nil), headers...)}
}

// AddRow appends a row; values are formatted with fmt.Sprint (floats with %.4g).
// A row shorter than the headers is padded, a longer one keeps its extra cells.
func (t *Table) AddRow(values []any) *Table {
	row := make([]string, len(values))
	for i, v := range values {
		switch x := v.(type) {
		case float64:
			row[i] = fmt.Sprintf("%.4g", x)
		case float32:
			row[i] = fmt.Sprintf("%.4g", x)
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	t.rows = append(t.rows, row)
	return t
}

// Show displays the table.
func (t *Table) Show() { Show(t) }

// MIMEBundle renders the table as HTML with a text/plain fallback.
func (t *Table) MIMEBundle() map[string]any {
	return map[string]any{"text/html": t.HTML(), "text/plain": t.String()}
}

// HTML is the table as an HTML <table>, cells escaped; numeric-looking cells
// are right-aligned.
func (t *Table) HTML() string {
	var b strings.Builder
	b.WriteString("<table>\n<thead><tr>")
	for _, h := range t.headers {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, r := range t.rows {
		b.WriteString("<tr>")
		for _, c := range r {
			align := "left"
			if isNumber(c) {
				align = "right"
			}
			fmt.Fprintf(&b, `<td style="text-align:%s">%s</td>`, align, html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>")
	return b.String()
}

// String is the table as aligned plain text.
func (t *Table) String() string {
	n := len(t.headers)
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	width := make([]int, n)
	cell := func(r []string, i int) string {
		if i < len(r) {
			return r[i]
		}
		return ""
	}
	for _, r := range append([][]string{t.headers}, t.rows...) {
		for i := 0; i < n; i++ {
			width[i] = max(width[i], utf8.RuneCountInString(cell(r, i)))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		var l strings.Builder
		for i := 0; i < n; i++ {
			c := cell(r, i)
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				l.WriteString("  ")
			}
			if isNumber(c) {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(t.headers)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(strings.Repeat("-", width[i]))
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return strings.TrimRight(b.String(), "\n")
}

func isNumber(s string) bool {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return err == nil && s != ""
}
