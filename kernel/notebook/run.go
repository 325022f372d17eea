package notebook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/traefik/yaegi/interp"

	"esa/kernel/session"
	"esa/stdlib/display"
)

// CellError is returned by Run when a cell fails.
type CellError struct {
	Index int // cell index in the notebook
	Err   *session.Error
}

func (e *CellError) Error() string {
	return fmt.Sprintf("cell %d: %s\n%s", e.Index, e.Err.Error(), strings.Join(e.Err.Traceback, "\n"))
}

// InjectParameters inserts a cell tagged "injected-parameters" after the
// cell tagged "parameters" (papermill's convention) assigning each value;
// without a parameters cell it goes first and declares the names.
// Values that parse as Go int, float or bool literals are used as such,
// anything else becomes a string.
func InjectParameters(nb *Notebook, params map[string]string) {
	if len(params) == 0 {
		return
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	at, op := 0, ":="
	for i, c := range nb.Cells {
		if c.CellType == "code" && c.hasTag("parameters") {
			at, op = i+1, "="
			break
		}
	}
	var b strings.Builder
	b.WriteString("// Parameters injected by esa run\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s %s %s\n", k, op, goLiteral(params[k]))
	}
	cell := &Cell{CellType: "code", Metadata: map[string]any{"tags": []any{"injected-parameters"}}, Source: Source(b.String())}
	nb.Cells = append(nb.Cells[:at], append([]*Cell{cell}, nb.Cells[at:]...)...)
}

func goLiteral(v string) string {
	if _, err := strconv.ParseInt(v, 0, 64); err == nil {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	if v == "true" || v == "false" {
		return v
	}
	return strconv.Quote(v)
}

// collector turns session output into nbformat outputs of the running cell.
type collector struct {
	mu      sync.Mutex
	cell    *Cell
	byID    map[string][]Output // outputs are maps: updating one updates the cell's output
	clearOn bool
}

func (c *collector) stream(name string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.flushClear()
		if c.cell == nil {
			return len(p), nil
		}
		if n := len(c.cell.Outputs); n > 0 && c.cell.Outputs[n-1]["output_type"] == "stream" && c.cell.Outputs[n-1]["name"] == name {
			c.cell.Outputs[n-1]["text"] = c.cell.Outputs[n-1]["text"].(string) + string(p)
			return len(p), nil
		}
		c.cell.Outputs = append(c.cell.Outputs, Output{"output_type": "stream", "name": name, "text": string(p)})
		return len(p), nil
	})
}

func (c *collector) flushClear() {
	if c.clearOn && c.cell != nil {
		c.cell.Outputs = nil
		c.clearOn = false
	}
}

func (c *collector) display(o display.Output) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cell == nil {
		return
	}
	if o.Clear {
		if o.Wait {
			c.clearOn = true
		} else {
			c.cell.Outputs = nil
		}
		return
	}
	c.flushClear()
	md := o.Metadata
	if md == nil {
		md = map[string]any{}
	}
	if o.Update {
		// Replace every output shown with this id, in this or earlier cells.
		for _, out := range c.byID[o.DisplayID] {
			out["data"] = o.Data
			out["metadata"] = md
		}
		return
	}
	out := Output{"output_type": "display_data", "data": o.Data, "metadata": md}
	c.cell.Outputs = append(c.cell.Outputs, out)
	if o.DisplayID != "" {
		c.byID[o.DisplayID] = append(c.byID[o.DisplayID], out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Run executes the code cells in order in a fresh session and stores their
// outputs. It stops at the first failing cell and returns a *CellError.
// progress, if not nil, is told the index of each cell before it runs.
func Run(ctx context.Context, nb *Notebook, symbols []interp.Exports, progress func(i int)) error {
	col := &collector{byID: map[string][]Output{}}
	// Cells get real files as stdout and stderr (yaegi hands a cell's
	// os.Stdout/os.Stderr through only when they are *os.File), read back
	// into the cell's stream outputs.
	stdout, err := newPipeStream(col.stream("stdout"))
	if err != nil {
		return err
	}
	defer stdout.close()
	stderr, err := newPipeStream(col.stream("stderr"))
	if err != nil {
		return err
	}
	defer stderr.close()
	s, err := session.New(session.Options{Stdout: stdout.w, Stderr: stderr.w, Symbols: symbols})
	if err != nil {
		return err
	}
	// A display comes straight from the cell while its printed output is
	// still on its way through the pipes: let that arrive first.
	display.SetSink(func(o display.Output) {
		stdout.sync()
		stderr.sync()
		col.display(o)
	})
	defer display.SetSink(nil)
	nb.Metadata["language_info"] = map[string]any{"name": "go", "mimetype": "text/x-go", "file_extension": ".go",
		"pygments_lexer": "go", "codemirror_mode": "go"}
	if _, ok := nb.Metadata["kernelspec"]; !ok {
		nb.Metadata["kernelspec"] = map[string]any{"name": "esa", "display_name": "Go (esa)", "language": "go"}
	}
	count := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		count++
		n := count
		col.mu.Lock()
		c.Outputs, c.ExecutionCount, col.cell = []Output{}, &n, c
		col.mu.Unlock()
		if progress != nil {
			progress(i)
		}
		restore, rerr := redirectFDs(stdout.w, stderr.w)
		if rerr != nil {
			return fmt.Errorf("capturing cell output: %w", rerr)
		}
		r := s.Exec(ctx, string(c.Source))
		stdout.sync()
		stderr.sync()
		restore()
		col.mu.Lock()
		col.cell = nil
		switch {
		case r.Err != nil:
			tb := r.Err.Traceback
			if tb == nil {
				tb = []string{}
			}
			c.Outputs = append(c.Outputs, Output{"output_type": "error", "ename": r.Err.Name, "evalue": r.Err.Value, "traceback": tb})
		case r.Data != nil:
			c.Outputs = append(c.Outputs, Output{"output_type": "execute_result", "data": r.Data, "metadata": map[string]any{}, "execution_count": n})
		case r.Page != "":
			c.Outputs = append(c.Outputs, Output{"output_type": "display_data", "data": map[string]any{"text/plain": r.Page}, "metadata": map[string]any{}})
		}
		col.mu.Unlock()
		if r.Err != nil {
			return &CellError{Index: i, Err: r.Err}
		}
	}
	return nil
}

// pipeStream is an os.Pipe whose reader forwards to w; sync waits until
// everything written so far has been forwarded.
type pipeStream struct {
	w      *os.File
	synced chan struct{}
	done   chan struct{}
}

const syncMarker = "\x00esa-sync\x00"

func newPipeStream(dst io.Writer) (*pipeStream, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &pipeStream{w: w, synced: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer r.Close()
		buf := make([]byte, 32<<10)
		var pending []byte
		for {
			n, err := r.Read(buf)
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.Index(pending, []byte(syncMarker))
				if i < 0 {
					break
				}
				if i > 0 {
					dst.Write(pending[:i])
				}
				pending = pending[i+len(syncMarker):]
				p.synced <- struct{}{}
			}
			// Hold back what may be the start of a marker or of a UTF-8 rune.
			keep := 0
			if j := bytes.IndexByte(pending, 0); j >= 0 {
				keep = len(pending) - j
			} else {
				for k := 1; k <= 3 && k <= len(pending); k++ {
					if utf8.RuneStart(pending[len(pending)-k]) {
						if !utf8.FullRune(pending[len(pending)-k:]) {
							keep = k
						}
						break
					}
				}
			}
			if err != nil {
				keep = 0
			}
			if out := len(pending) - keep; out > 0 {
				dst.Write(pending[:out])
				pending = append(pending[:0], pending[out:]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return p, nil
}

func (p *pipeStream) sync() {
	if _, err := p.w.WriteString(syncMarker); err != nil {
		return
	}
	select {
	case <-p.synced:
	case <-p.done:
	}
}

func (p *pipeStream) close() {
	p.w.Close()
	<-p.done
}
