// Package notebook reads, executes and writes Jupyter notebooks (nbformat
// 4) in-process, the way `esa run` does headless: one yaegi session, outputs
// stored as nbformat outputs, papermill-style parameter injection, and a
// minimal HTML export.
package notebook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"esa/internal/atomicfile"
	"fmt"
	"os"
	"strings"
)

// Notebook is an nbformat 4 document. Unknown fields are kept.
type Notebook struct {
	Cells         []*Cell        `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

// Cell is one notebook cell.
type Cell struct {
	ID             string         `json:"id,omitempty"`
	CellType       string         `json:"cell_type"`
	Metadata       map[string]any `json:"metadata"`
	Source         Source         `json:"source"`
	Outputs        []Output       `json:"outputs,omitempty"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	Attachments    map[string]any `json:"attachments,omitempty"`
}

// MarshalJSON writes a cell as nbformat 4 wants it: a code cell always has
// "outputs" (a list) and "execution_count" (null until it ran); other cells
// have neither.
func (c *Cell) MarshalJSON() ([]byte, error) {
	type plain Cell // without this method
	if c.CellType != "code" {
		p := plain(*c)
		p.Outputs, p.ExecutionCount = nil, nil
		return json.Marshal(p)
	}
	outs := c.Outputs
	if outs == nil {
		outs = []Output{}
	}
	return json.Marshal(struct {
		ID             string         `json:"id,omitempty"`
		CellType       string         `json:"cell_type"`
		Metadata       map[string]any `json:"metadata"`
		Source         Source         `json:"source"`
		Outputs        []Output       `json:"outputs"`
		ExecutionCount *int           `json:"execution_count"`
		Attachments    map[string]any `json:"attachments,omitempty"`
	}{c.ID, c.CellType, c.Metadata, c.Source, outs, c.ExecutionCount, c.Attachments})
}

// newCellID returns a cell id unique within nb (nbformat 4.5 requires ids).
func newCellID(nb *Notebook) string {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		taken := false
		for _, c := range nb.Cells {
			taken = taken || c.ID == id
		}
		if !taken {
			return id
		}
	}
}

// Output is one nbformat output (stream, display_data, execute_result, error).
type Output map[string]any

// Source is cell source: nbformat allows a string or a list of lines.
type Source string

// UnmarshalJSON accepts both forms.
func (s *Source) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = Source(str)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return fmt.Errorf("cell source is neither a string nor a list of strings")
	}
	*s = Source(strings.Join(lines, ""))
	return nil
}

// MarshalJSON writes the list-of-lines form Jupyter writes.
func (s Source) MarshalJSON() ([]byte, error) { return json.Marshal(splitLines(string(s))) }

func splitLines(s string) []string {
	out := []string{}
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// Read parses a notebook file.
func Read(path string) (*Notebook, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb Notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("%s: not a notebook: %w", path, err)
	}
	if nb.NBFormat != 4 {
		return nil, fmt.Errorf("%s: nbformat %d not supported (valid: 4)", path, nb.NBFormat)
	}
	for i, c := range nb.Cells {
		if c == nil {
			return nil, fmt.Errorf("%s: cell %d is null", path, i)
		}
		if c.Metadata == nil {
			c.Metadata = map[string]any{}
		}
	}
	if nb.Metadata == nil {
		nb.Metadata = map[string]any{}
	}
	return &nb, nil
}

// Write saves the notebook atomically (temp file and rename).
func (nb *Notebook) Write(path string) error {
	if nb.NBFormat == 4 && nb.NBFormatMinor >= 5 {
		for _, c := range nb.Cells {
			if c.ID == "" {
				c.ID = newCellID(nb)
			}
		}
	}
	b, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// Tags returns a cell's metadata tags.
func (c *Cell) Tags() []string {
	raw, _ := c.Metadata["tags"].([]any)
	var out []string
	for _, t := range raw {
		if s, ok := t.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *Cell) hasTag(tag string) bool {
	for _, t := range c.Tags() {
		if t == tag {
			return true
		}
	}
	return false
}
