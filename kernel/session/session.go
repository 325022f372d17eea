// Package session evaluates notebook cells with the yaegi Go interpreter:
// it splits cells into declarations and statements, skips repeated imports,
// bridges modern Go that yaegi lacks, decides whether a cell ends in a value
// to display, maps errors to cell line numbers, and answers completion and
// inspection requests from the interpreter's state.
package session

import (
	"bytes"
	"context"
	"errors"
	"esa/stdlib/display"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"esa/kernel/session/builtin"
)

// Options configure a session.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Symbols are extra compiled packages cells may import (the project's
	// notebook-facing packages), keyed "importpath/name" as yaegi expects.
	Symbols []interp.Exports
}

// Error is a failed cell: Name is the kind (SyntaxError, CompileError,
// Panic, Interrupted), Value the message, Traceback the lines to show.
type Error struct {
	Name      string
	Value     string
	Traceback []string
	// Stuck is set when an interrupt could not stop compiled code; the
	// caller should discard the session (or the process holding it).
	Stuck bool
}

func (e *Error) Error() string { return e.Name + ": " + e.Value }

// Result of one cell.
type Result struct {
	// Data is the MIME bundle of the cell's trailing single-valued
	// expression, nil when there is none.
	Data map[string]any
	Err  *Error
	// Page is text for the pager (Jupyter's "page" payload), from %doc.
	Page string
}

// Session is one interpreter and the bookkeeping around it. Exec, Reset,
// Complete and Inspect must not be called concurrently.
type Session struct {
	opts     Options
	in       *interp.Interpreter
	imports  map[string]string // import path -> local name, for imports already evaluated
	decls    map[string]declInfo
	typeDefs map[string]string // type name -> canonical definition, see redefine.go
	panicMu  sync.Mutex
	panicPos []string // "line:col: panic: ..." lines yaegi wrote for the last panic
	// Grace is how long compiled code may keep running after an interrupt
	// before the cell's error is marked Stuck.
	Grace time.Duration
}

type declInfo struct {
	kind string // func, type, var, const
	text string // source of the declaration (signature for funcs)
	doc  string
}

// New starts a session with a fresh interpreter.
func New(opts Options) (*Session, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	s := &Session{opts: opts, Grace: 3 * time.Second}
	return s, s.Reset()
}

// prelude defines the builtins of Go 1.21 that yaegi v0.16 lacks.
const prelude = `import __esabuiltin "esa/builtin"
func min[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64 | uintptr | float32 | float64 | string](x T, y ...T) T {
	for _, v := range y {
		if v < x {
			x = v
		}
	}
	return x
}
func max[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64 | uintptr | float32 | float64 | string](x T, y ...T) T {
	for _, v := range y {
		if v > x {
			x = v
		}
	}
	return x
}
func clear(v interface{}) { __esabuiltin.Clear(v) }
`

// Reset replaces the interpreter by a fresh one: every value, function,
// type and import of earlier cells is forgotten.
func (s *Session) Reset() error {
	in := interp.New(interp.Options{
		Stdin:        s.opts.Stdin,
		Stdout:       s.opts.Stdout,
		Stderr:       &panicFilter{s: s, w: s.opts.Stderr},
		Unrestricted: true,
	})
	if err := in.Use(stdlib.Symbols); err != nil {
		return err
	}
	// yaegi passes os.Stderr through only when its Stderr option is an
	// *os.File, which the panic filter is not: set the cell's os.Stdout and
	// os.Stderr to the session's files explicitly.
	osSyms := map[string]reflect.Value{}
	if f, ok := s.opts.Stdout.(*os.File); ok {
		osSyms["Stdout"] = reflect.ValueOf(&f).Elem()
	}
	if f, ok := s.opts.Stderr.(*os.File); ok {
		osSyms["Stderr"] = reflect.ValueOf(&f).Elem()
	}
	// A standard input that is not a file (the kernel's, which asks the
	// frontend for each line) can only be handed to cells as an io.Reader:
	// reading os.Stdin then works (bufio.NewScanner(os.Stdin), io.ReadAll,
	// fmt.Fscan), while *os.File methods such as os.Stdin.Stat do not.
	if _, ok := s.opts.Stdin.(*os.File); !ok {
		r := s.opts.Stdin
		osSyms["Stdin"] = reflect.ValueOf(&r).Elem()
	}
	if len(osSyms) > 0 {
		if err := in.Use(interp.Exports{"os/os": osSyms}); err != nil {
			return err
		}
	}
	if err := in.Use(builtin.Symbols); err != nil {
		return err
	}
	for _, x := range s.opts.Symbols {
		if err := in.Use(x); err != nil {
			return err
		}
	}
	if _, err := in.Eval(prelude); err != nil {
		return fmt.Errorf("session: prelude: %w", err)
	}
	s.in = in
	s.imports = map[string]string{}
	s.decls = map[string]declInfo{}
	s.typeDefs = map[string]string{}
	return nil
}

// panicFilter takes yaegi's "L:C: panic: f(...)" report of a panicking
// cell off stderr and keeps it for the traceback, so that a failing cell
// produces exactly one error output.
type panicFilter struct {
	s *Session
	w io.Writer
}

var panicLine = regexp.MustCompile(`^\d+:\d+: panic: .*\n?$`)

func (p *panicFilter) Write(b []byte) (int, error) {
	if panicLine.Match(b) {
		p.s.panicMu.Lock()
		p.s.panicPos = append(p.s.panicPos, strings.TrimSpace(string(b)))
		p.s.panicMu.Unlock()
		return len(b), nil
	}
	return p.w.Write(b)
}

// Exec evaluates one cell. Cancelling ctx interrupts it.
func (s *Session) Exec(ctx context.Context, code string) Result {
	// Compiled library calls observe the cell's context through
	// display.Context, so an interrupt reaches them too.
	display.SetContext(ctx)
	defer display.SetContext(nil)
	if m, ok := parseMagic(code); ok {
		return s.magic(ctx, m)
	}
	return s.exec(ctx, code)
}

func (s *Session) exec(ctx context.Context, code string) Result {
	orig := code // rewrites keep lines, so errors quote the cell as written
	segs, kw, err := splitCell(code)
	if err != nil {
		return Result{Err: syntaxError(code, err)}
	}
	var unsure []rangeNote
	if kw&(kwFor|kwSwitch|kwDefer) != 0 {
		// Parsing for the rewrites costs more than a trivial cell's
		// evaluation: only cells with loops, switches or defers pay for it.
		rewritten, notes := rewriteModern(code, segs, rewriteEnv{isGlobalInt: s.isIntGlobal, probeInt: s.probeInt})
		unsure = notes
		if kw&kwDefer != 0 && rewritten == code {
			rewritten = rewriteDefers(code, segs, s.isConst)
		} else if kw&kwDefer != 0 {
			// A second pass over the first one's result: both edit the same
			// statements, and edits of one pass never overlap.
			segs2, _, err := splitCell(rewritten)
			if err == nil {
				rewritten = rewriteDefers(rewritten, segs2, s.isConst)
			}
		}
		if rewritten != code {
			code = rewritten
			if segs, _, err = splitCell(code); err != nil {
				return Result{Err: syntaxError(code, err)}
			}
		}
	}
	if kw&kwType != 0 {
		if e := s.checkTypeRedefinitions(code, segs, orig); e != nil {
			return Result{Err: e}
		}
	}
	fail := func(e *Error) Result { return Result{Err: explainRange(e, unsure, orig)} }
	for _, g := range groupSegments(code, segs) {
		src := code[g.start:g.end]
		switch g.kind {
		case segImport:
			src2, added, err := s.newImports(src)
			if err != nil {
				return Result{Err: syntaxError(code, err)}
			}
			if src2 == "" {
				continue
			}
			if _, e := s.eval(ctx, padded(code, g.start, g.start)+src2, orig); e != nil {
				return fail(e)
			}
			for p, n := range added {
				s.imports[p] = n
			}
			continue
		case segDecl:
			if _, e := s.eval(ctx, padded(code, g.start, g.end), orig); e != nil {
				return fail(e)
			}
			s.recordDecls(src)
			if kw&kwType != 0 {
				s.recordTypes(src)
			}
			continue
		}
		// Statements: a leading ';' keeps yaegi from mistaking a cell that
		// starts with a func literal for a declaration (it would then re-run
		// it on every later Eval).
		body := ";" + padded(code, g.start, g.end)
		if !g.tail {
			if _, e := s.eval(ctx, body, orig); e != nil {
				return fail(e)
			}
			s.recordAssigns(src)
			continue
		}
		v, e := s.eval(ctx, body, orig)
		if e != nil {
			return fail(e)
		}
		if s.singleValued(src) {
			return Result{Data: Bundle(v)}
		}
	}
	return Result{}
}

// eval runs src (already padded to cell lines), converting yaegi's errors
// and panics into an Error that points at cell lines.
func (s *Session) eval(ctx context.Context, src, cell string) (v reflect.Value, e *Error) {
	s.panicMu.Lock()
	s.panicPos = nil
	s.panicMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			// yaegi itself panicked while compiling: report it, keep the kernel.
			e = &Error{Name: "InterpreterError", Value: fmt.Sprint(r),
				Traceback: []string{"InterpreterError: yaegi could not compile this cell: " + fmt.Sprint(r),
					"(a Go feature yaegi v0.16 does not support; %reset starts a fresh interpreter if later cells misbehave)"}}
		}
	}()
	if ctx.Err() != nil {
		return reflect.Value{}, &Error{Name: "Interrupted", Value: "cell interrupted", Traceback: []string{"Interrupted: the cell was stopped"}}
	}
	var err error
	if compileSeparately {
		// Compiling here rather than in ExecuteWithContext's fresh goroutine
		// spares the compiler's deep recursion a stack that starts small and
		// grows by copying on every cell: about 70 µs of a trivial cell's
		// 120. Only running the cell needs the interruptible goroutine.
		prog, cerr := s.in.Compile(src)
		if cerr != nil {
			return reflect.Value{}, s.convertError(cerr, cell)
		}
		v, err = s.in.ExecuteWithContext(ctx, prog)
	} else {
		v, err = s.in.EvalWithContext(ctx, src)
	}
	if err == nil {
		return v, nil
	}
	if ctx.Err() == nil {
		return reflect.Value{}, s.convertError(err, cell)
	}
	e = &Error{Name: "Interrupted", Value: "cell interrupted", Traceback: []string{"Interrupted: the cell was stopped"}}
	if !s.waitStopped() {
		e.Stuck = true
		e.Traceback = append(e.Traceback, "compiled code did not stop within "+s.Grace.String())
	}
	return reflect.Value{}, e
}

// waitStopped waits, at most Grace, until the goroutine yaegi runs an
// interrupted cell in has ended: interpreted code stops at once, compiled
// code only when it returns. yaegi's *WithContext functions return as soon
// as they have signalled the stop, and yaegi offers no other way to learn
// when the cell's goroutine is gone than looking for it among the running
// goroutines.
func (s *Session) waitStopped() bool {
	deadline := time.Now().Add(s.Grace)
	buf := make([]byte, 1<<16)
	pause := 50 * time.Microsecond
	halted := false
	for {
		n := runtime.Stack(buf, true)
		for n == len(buf) {
			buf = make([]byte, 2*len(buf))
			n = runtime.Stack(buf, true)
		}
		cell := bytes.Contains(buf[:n], []byte(cellGoroutine))
		// halt's goroutines parse with the interpreter's file set, which
		// yaegi does not guard against concurrent parsing: the next cell
		// must not start while one is still at it.
		halting := halted && bytes.Contains(buf[:n], []byte(haltGoroutine))
		if !cell && !halting {
			return true
		}
		if time.Now().After(deadline) {
			return !cell
		}
		time.Sleep(pause)
		if pause < 20*time.Millisecond {
			pause *= 2
		}
		if cell && pause >= time.Millisecond {
			// A stop that lands before the cell's first frame has started
			// is lost (the frame takes the new run id): stop again.
			s.halt()
			halted = true
		}
	}
}

// halt repeats yaegi's stop: EvalWithContext with a cancelled context bumps
// the interpreter's run id, which running frames compare against. The
// source must not compile: running a program would reset the global
// frame's run id and could undo the stop.
func (s *Session) halt() {
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = s.in.EvalWithContext(stopped, "}")
}

// Warm compiles and runs a trivial cell, so that the first cell a user
// runs does not pay for the interpreter's first-use costs.
func (s *Session) Warm() {
	s.exec(context.Background(), "_ = 6*7")
	s.exec(context.Background(), "6*7")
}

var posPrefix = regexp.MustCompile(`^(?:[^\s:]*\.go:)?(\d+):(\d+): `)

func (s *Session) convertError(err error, cell string) *Error {
	lines := strings.Split(cell, "\n")
	show := func(line int) string {
		if line >= 1 && line <= len(lines) {
			return fmt.Sprintf("  line %d | %s", line, strings.TrimRight(lines[line-1], " \t"))
		}
		return ""
	}
	var p interp.Panic
	if errors.As(err, &p) {
		e := &Error{Name: "Panic", Value: fmt.Sprint(p.Value)}
		e.Traceback = append(e.Traceback, "panic: "+fmt.Sprint(p.Value))
		s.panicMu.Lock()
		pos := append([]string(nil), s.panicPos...)
		s.panicMu.Unlock()
		for _, l := range pos {
			if m := posPrefix.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				e.Traceback = append(e.Traceback, fmt.Sprintf("at cell line %s: %s", m[1], strings.TrimPrefix(l, m[0])))
				if sl := show(n); sl != "" {
					e.Traceback = append(e.Traceback, sl)
				}
			}
		}
		return e
	}
	var list scanner.ErrorList
	msgs := []string{err.Error()}
	name := "CompileError"
	if errors.As(err, &list) {
		name = "SyntaxError"
		msgs = msgs[:0]
		for _, x := range list {
			msgs = append(msgs, x.Error())
		}
	}
	e := &Error{Name: name}
	for i, m := range msgs {
		text, line := m, 0
		if sm := posPrefix.FindStringSubmatch(m); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			text = strings.TrimPrefix(m, sm[0])
		}
		if i == 0 {
			e.Value = text
			if line > 0 {
				e.Value = fmt.Sprintf("line %d: %s", line, text)
			}
		}
		if strings.Contains(text, "redeclared") {
			text += " (a redefinition does not reach code that already uses the old one; %reset starts a fresh interpreter)"
		}
		if line > 0 {
			e.Traceback = append(e.Traceback, fmt.Sprintf("%s: line %d: %s", name, line, text))
			if sl := show(line); sl != "" {
				e.Traceback = append(e.Traceback, sl)
			}
		} else {
			e.Traceback = append(e.Traceback, name+": "+text)
		}
	}
	return e
}

// explainRange replaces yaegi's "nil type" failure, which is what a range
// over an integer it could not see as one produces, by a message that says
// what to write instead.
func explainRange(e *Error, unsure []rangeNote, cell string) *Error {
	if e == nil || len(unsure) == 0 || !strings.Contains(e.Value, "nil type") {
		return e
	}
	n := unsure[0]
	lines := strings.Split(cell, "\n")
	out := &Error{Name: "RangeError",
		Value: fmt.Sprintf("line %d: cannot tell whether %s is an integer to range over", n.line, n.expr)}
	out.Traceback = []string{
		fmt.Sprintf("RangeError: line %d: cannot tell whether %s is an integer.", n.line, n.expr),
	}
	if n.line >= 1 && n.line <= len(lines) {
		out.Traceback = append(out.Traceback, fmt.Sprintf("  line %d | %s", n.line, strings.TrimRight(lines[n.line-1], " \t")))
	}
	out.Traceback = append(out.Traceback,
		"yaegi lacks range over integers; esa rewrites such loops when it can see the value is an integer",
		"(a literal, len/cap, an int variable, a conversion). Write  for i := range int("+n.expr+")  or a counting loop.")
	return out
}

func syntaxError(cell string, err error) *Error {
	var s Session
	return s.convertError(err, cell)
}

// newImports drops the imports already evaluated (yaegi rejects a repeated
// import) and returns the source of the rest, on one line.
func (s *Session) newImports(src string) (string, map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+src, parser.ImportsOnly)
	if err != nil {
		return "", nil, err
	}
	added := map[string]string{}
	var keep []string
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		if old, ok := s.imports[p]; ok && old == name {
			continue
		}
		added[p] = name
		if im.Name != nil {
			keep = append(keep, im.Name.Name+" "+im.Path.Value)
		} else {
			keep = append(keep, im.Path.Value)
		}
	}
	if len(keep) == 0 {
		return "", nil, nil
	}
	return "import (" + strings.Join(keep, "; ") + ")", added, nil
}

// singleValued decides from the AST (and, for calls, the callee's type)
// whether a trailing expression statement has exactly one value. fmt.Println
// returns (n, err): showing "3 <nil>" after it is a known annoyance of other
// kernels.
func (s *Session) singleValued(stmt string) bool {
	st, err := parseStmts(stmt)
	if err != nil || len(st) != 1 {
		return false
	}
	es, ok := st[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := unparen(es.X).(*ast.CallExpr)
	if !ok {
		return true
	}
	if id, ok := call.Fun.(*ast.Ident); ok {
		switch id.Name {
		case "panic", "print", "println", "close", "delete", "copy", "clear":
			return id.Name == "copy"
		}
	}
	if !pureSelector(call.Fun) {
		return true
	}
	fset := token.NewFileSet()
	_ = fset
	fn, err := s.in.Eval(exprString(stmt, call.Fun))
	if err != nil || !fn.IsValid() {
		return true // a conversion or builtin: single-valued
	}
	if fn.Kind() == reflect.Func {
		return fn.Type().NumOut() == 1
	}
	return true
}

func unparen(e ast.Expr) ast.Expr {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

// pureSelector reports whether evaluating e has no side effects.
func pureSelector(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return true
	case *ast.SelectorExpr:
		return pureSelector(x.X)
	}
	return false
}

// exprString returns the source of e within stmt (parsed by parseStmts).
func exprString(stmt string, e ast.Expr) string {
	const pre = len("package p;func _(){")
	// Positions are 1-based offsets into the wrapped source of one file.
	s, t := int(e.Pos())-1-pre, int(e.End())-1-pre
	if s < 0 || t > len(stmt) || s > t {
		return ""
	}
	return stmt[s:t]
}

// probeInt reports whether expr, made of earlier cells' globals, is an
// integer. It compiles a throw-away function using the expression where only
// an integer compiles (|= needs an integer operand) and never runs it.
func (s *Session) probeInt(expr string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := s.in.Compile("func __esaIntProbe() { __x := (" + expr + "); __x |= 1; _ = __x }")
	return err == nil
}

// isConst reports whether name (or "pkg.Name") is a constant: declared
// const by a cell, or a constant of an imported compiled package.
func (s *Session) isConst(name string) bool {
	pkg, member, ok := strings.Cut(name, ".")
	if !ok {
		return s.decls[name].kind == "const"
	}
	for path, local := range s.imports {
		if local != pkg {
			continue
		}
		v, ok := s.in.Symbols(path)[path][member]
		return ok && v.IsValid() && v.Type() == constantValueType
	}
	return false
}

var constantValueType = reflect.TypeOf((*constant.Value)(nil)).Elem()

func (s *Session) isIntGlobal(name string) bool {
	v, ok := s.in.Globals()[name]
	if !ok || !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// recordDecls remembers declarations for completion and inspection.
func (s *Session) recordDecls(src string) {
	// A newline after the package clause keeps a leading comment a doc comment.
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+src, parser.ParseComments)
	if err != nil {
		return
	}
	const pre = len("package p\n")
	text := func(a, b token.Pos) string {
		i, j := int(a)-1-pre, int(b)-1-pre
		if i < 0 || j > len(src) || i > j {
			return ""
		}
		return src[i:j]
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv != nil {
				continue
			}
			s.decls[d.Name.Name] = declInfo{"func", text(d.Pos(), d.Type.End()), d.Doc.Text()}
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				switch sp := sp.(type) {
				case *ast.TypeSpec:
					s.decls[sp.Name.Name] = declInfo{"type", "type " + text(sp.Pos(), sp.End()), d.Doc.Text()}
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						s.decls[n.Name] = declInfo{d.Tok.String(), d.Tok.String() + " " + text(sp.Pos(), sp.End()), d.Doc.Text()}
					}
				}
			}
		}
	}
}

// recordAssigns remembers names defined by top-level := statements.
func (s *Session) recordAssigns(src string) {
	st, err := parseStmts(src)
	if err != nil {
		return
	}
	for _, x := range st {
		if a, ok := x.(*ast.AssignStmt); ok && a.Tok == token.DEFINE {
			for _, l := range a.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
					s.decls[id.Name] = declInfo{kind: "var"}
				}
			}
		}
	}
}

// Names returns the identifiers cells have declared, sorted.
func (s *Session) Names() []string {
	out := make([]string, 0, len(s.decls))
	for n := range s.decls {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
