package notebook

import (
	"fmt"
	"html"
	"io"
	"sort"
	"strings"
)

// WriteHTML renders the notebook as a standalone HTML page: code with its
// outputs (HTML, SVG and PNG inline, text preformatted); Markdown cells are
// shown as preformatted source (no Markdown renderer is bundled).
func WriteHTML(w io.Writer, nb *Notebook, title string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString(`<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f6f8fa;padding:.5em;overflow:auto}
.out pre{background:#fff;border-left:3px solid #ccc}.err pre{background:#fdd}.prompt{color:#888;font-size:80%}</style></head><body>
`)
	for _, c := range nb.Cells {
		switch c.CellType {
		case "markdown":
			fmt.Fprintf(&b, "<div class=\"md\"><pre>%s</pre></div>\n", html.EscapeString(string(c.Source)))
		case "code":
			n := " "
			if c.ExecutionCount != nil {
				n = fmt.Sprint(*c.ExecutionCount)
			}
			fmt.Fprintf(&b, "<div class=\"prompt\">In [%s]:</div><pre><code class=\"language-go\">%s</code></pre>\n", n, html.EscapeString(string(c.Source)))
			for _, o := range c.Outputs {
				writeOutputHTML(&b, o)
			}
		default:
			fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(string(c.Source)))
		}
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeOutputHTML(b *strings.Builder, o Output) {
	switch o["output_type"] {
	case "stream":
		fmt.Fprintf(b, "<div class=\"out\"><pre>%s</pre></div>\n", html.EscapeString(fmt.Sprint(o["text"])))
	case "error":
		var tb []string
		if l, ok := o["traceback"].([]string); ok {
			tb = l
		} else if l, ok := o["traceback"].([]any); ok {
			for _, x := range l {
				tb = append(tb, fmt.Sprint(x))
			}
		}
		fmt.Fprintf(b, "<div class=\"err\"><pre>%s</pre></div>\n", html.EscapeString(strings.Join(tb, "\n")))
	case "display_data", "execute_result":
		data, _ := o["data"].(map[string]any)
		switch {
		case data["text/html"] != nil:
			fmt.Fprintf(b, "<div class=\"out\">%s</div>\n", data["text/html"])
		case data["image/svg+xml"] != nil:
			fmt.Fprintf(b, "<div class=\"out\">%s</div>\n", data["image/svg+xml"])
		case data["image/png"] != nil:
			fmt.Fprintf(b, "<div class=\"out\"><img src=\"data:image/png;base64,%s\"></div>\n", strings.TrimSpace(fmt.Sprint(data["image/png"])))
		case data["text/plain"] != nil:
			fmt.Fprintf(b, "<div class=\"out\"><pre>%s</pre></div>\n", html.EscapeString(fmt.Sprint(data["text/plain"])))
		default:
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(b, "<div class=\"out\"><pre>[%s]</pre></div>\n", html.EscapeString(strings.Join(keys, ", ")))
		}
	}
}
