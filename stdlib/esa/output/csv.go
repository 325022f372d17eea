package output

import (
	"bytes"
	"encoding/csv"
	"fmt"
)

// WriteCSV writes a header and rows to path atomically.
func WriteCSV(path string, header []string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(header); err != nil {
		return fmt.Errorf("output: %s: %w", path, err)
	}
	for _, r := range rows {
		if len(r) != len(header) {
			return fmt.Errorf("output: %s: row of %d fields for %d columns", path, len(r), len(header))
		}
		if err := w.Write(r); err != nil {
			return fmt.Errorf("output: %s: %w", path, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("output: %s: %w", path, err)
	}
	return WriteFile(path, b.Bytes())
}
