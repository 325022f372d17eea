package session

import (
	"esa/stdlib/symbols"
	"path"

	"errors"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode"
)

var keywords = []string{"break", "case", "chan", "const", "continue", "default", "defer", "else",
	"fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
	"return", "select", "struct", "switch", "type", "var"}

var predeclared = []string{"any", "append", "bool", "byte", "cap", "clear", "close", "comparable", "complex",
	"complex128", "complex64", "copy", "delete", "error", "false", "float32", "float64", "imag", "int",
	"int16", "int32", "int64", "int8", "iota", "len", "make", "max", "min", "new", "nil", "panic", "print",
	"println", "real", "recover", "rune", "string", "true", "uint", "uint16", "uint32", "uint64", "uint8",
	"uintptr"}

// wordAt returns the dotted identifier chain ending at cursor ("fmt.Pri")
// and the byte offset where it starts.
func wordAt(code string, cursor int) (string, int) {
	if cursor > len(code) {
		cursor = len(code)
	}
	if cursor < 0 {
		cursor = 0
	}
	start := cursor
	for start > 0 {
		r := rune(code[start-1])
		if r == '.' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || r >= 0x80 {
			start--
			continue
		}
		break
	}
	return code[start:cursor], start
}

// Complete returns completions for the identifier before cursor (a byte
// offset) and the range of code they replace.
func (s *Session) Complete(code string, cursor int) (matches []string, start, end int) {
	word, start := wordAt(code, cursor)
	if cursor > len(code) {
		cursor = len(code)
	}
	end = cursor
	if i := strings.LastIndex(word, "."); i >= 0 {
		prefix := word[i+1:]
		start += i + 1
		return filter(s.members(word[:i]), prefix), start, end
	}
	var cands []string
	cands = append(cands, keywords...)
	cands = append(cands, predeclared...)
	cands = append(cands, s.Names()...)
	for p, n := range s.imports {
		_ = p
		cands = append(cands, n)
	}
	if strings.HasPrefix(strings.TrimLeft(code, " \t\n"), "%") {
		cands = append(cands, Magics...)
	}
	return filter(cands, word), start, end
}

func filter(cands []string, prefix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) && !seen[c] && !strings.HasPrefix(c, "__") {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// members lists what follows "x." : a package's exported symbols, or the
// fields and methods of a value.
func (s *Session) members(x string) []string {
	if path := s.pkgPath(x); path != "" {
		var out []string
		for name := range s.in.Symbols(path)[path] {
			if ast.IsExported(name) {
				out = append(out, name)
			}
		}
		return out
	}
	// Not imported yet: offer the members of a known package of that name,
	// so that "strings.Sp" completes before the import line runs.
	if path := s.knownPkg(x); path != "" {
		var out []string
		for name := range s.in.Symbols(path)[path] {
			if ast.IsExported(name) {
				out = append(out, name)
			}
		}
		return out
	}
	if !isChain(x) {
		return nil
	}
	v, err := s.in.Eval(x)
	if err != nil || !v.IsValid() {
		return nil
	}
	return fieldsAndMethods(v.Type())
}

func isChain(x string) bool {
	for _, p := range strings.Split(x, ".") {
		if !token.IsIdentifier(p) {
			return false
		}
	}
	return x != ""
}

func fieldsAndMethods(t reflect.Type) []string {
	var out []string
	for _, tt := range []reflect.Type{t, reflect.PointerTo(t)} {
		for i := 0; i < tt.NumMethod(); i++ {
			out = append(out, tt.Method(i).Name)
		}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// pkgPath returns the import path of an imported package's local name.
func (s *Session) pkgPath(name string) string {
	for p, n := range s.imports {
		if n == name {
			return p
		}
	}
	return ""
}

// Inspect describes the identifier under (or just before) the cursor:
// signature or type, and the doc comment when the source is available.
func (s *Session) Inspect(code string, cursor int) (string, bool) {
	// Extend the word to the right of the cursor too.
	end := cursor
	if end > len(code) {
		end = len(code)
	}
	for end < len(code) {
		r := rune(code[end])
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			end++
			continue
		}
		break
	}
	word, _ := wordAt(code, end)
	word = strings.Trim(word, ".")
	if word == "" {
		return "", false
	}
	if i := strings.LastIndex(word, "."); i >= 0 {
		pkg, name := word[:i], word[i+1:]
		if path := s.pkgPath(pkg); path != "" {
			sym, ok := s.in.Symbols(path)[path][name]
			if !ok {
				return "", false
			}
			text := path + "." + name + "\n" + describe(sym)
			if d := pkgDoc(path, name); d != "" {
				text += "\n\n" + d
			}
			return text, true
		}
	}
	if d, ok := s.decls[word]; ok && d.text != "" {
		text := d.text
		if d.doc != "" {
			text += "\n\n" + d.doc
		}
		if v, err := s.in.Eval(word); err == nil && v.IsValid() && d.kind != "func" && d.kind != "type" {
			text += "\n\nvalue: " + Bundle(v)["text/plain"].(string)
		}
		return text, true
	}
	if isChain(word) {
		if v, err := s.in.Eval(word); err == nil && v.IsValid() {
			if b := Bundle(v); b != nil {
				return word + " " + v.Type().String() + "\nvalue: " + toString(b["text/plain"]), true
			}
		}
	}
	for _, k := range keywords {
		if k == word {
			return word + ": Go keyword", true
		}
	}
	return "", false
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func describe(sym reflect.Value) string {
	t := sym.Type()
	switch {
	case t.Kind() == reflect.Func:
		return "func" + strings.TrimPrefix(t.String(), "func")
	case t.Kind() == reflect.Pointer && t.Elem().Kind() != reflect.Pointer && sym.IsNil():
		return "type " + t.Elem().String()
	case t.Kind() == reflect.Pointer:
		return "var of type " + t.Elem().String()
	}
	return "const " + t.String()
}

var (
	docMu    sync.Mutex
	docCache = map[string]*doc.Package{}
)

// pkgDoc returns the doc comment of path.name from the package's source,
// when the source is on this machine (GOROOT for the standard library).
func pkgDoc(path, name string) string {
	// The project's notebook packages carry their docs in the generated
	// symbol tables, so an installed binary shows them without sources.
	full := path
	if f, ok := symbols.Short[path]; ok {
		full = f
	}
	if d := symbols.Docs[full][name]; d != "" {
		return d
	}
	docMu.Lock()
	defer docMu.Unlock()
	p, ok := docCache[path]
	if !ok {
		docCache[path] = nil
		bp, err := build.Import(path, "", build.FindOnly)
		if err != nil {
			return ""
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, bp.Dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments)
		if err != nil {
			return ""
		}
		for n, ap := range pkgs {
			if n == bp.Name || bp.Name == "" {
				p = doc.New(ap, path, 0)
			}
		}
		docCache[path] = p
	}
	if p == nil {
		return ""
	}
	for _, f := range p.Funcs {
		if f.Name == name {
			return f.Doc
		}
	}
	for _, t := range p.Types {
		if t.Name == name {
			return t.Doc
		}
		for _, f := range t.Funcs {
			if f.Name == name {
				return f.Doc
			}
		}
	}
	for _, vs := range append(p.Vars, p.Consts...) {
		for _, n := range vs.Names {
			if n == name {
				return vs.Doc
			}
		}
	}
	return ""
}

// IsComplete classifies code as "complete", "incomplete" (more lines are
// needed; indent is the suggested indentation) or "invalid".
func IsComplete(code string) (status, indent string) {
	t := strings.TrimSpace(code)
	if t == "" || strings.HasPrefix(t, "%") {
		return "complete", ""
	}
	segs, _, err := splitCell(code)
	if err != nil {
		if unterminated(err.Error()) {
			return "incomplete", ""
		}
		return "invalid", ""
	}
	depth := 0
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(code)), []byte(code), nil, 0)
	for {
		_, tok, _ := sc.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LBRACE, token.LPAREN, token.LBRACK:
			depth++
		case token.RBRACE, token.RPAREN, token.RBRACK:
			depth--
		}
		if depth < 0 {
			return "invalid", ""
		}
	}
	if depth > 0 {
		return "incomplete", strings.Repeat("\t", depth)
	}
	for _, sg := range segs {
		text := code[sg.start:sg.end]
		pre := "package p;"
		post := ""
		if sg.kind == segStmt {
			pre, post = "package p;func _(){", "\n}"
		}
		_, err := parser.ParseFile(token.NewFileSet(), "", pre+text+post, 0)
		var list scanner.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			// An error at or past the end of the text: the code stops early.
			if list[0].Pos.Offset >= len(pre)+len(strings.TrimRight(text, " \t\n;")) {
				return "incomplete", ""
			}
			return "invalid", ""
		}
		if err != nil {
			return "invalid", ""
		}
	}
	return "complete", ""
}

func unterminated(msg string) bool {
	return strings.Contains(msg, "not terminated") || strings.Contains(msg, "EOF")
}

// knownPkg finds a compiled package whose name is name among all the
// packages cells may import (standard library and the project's).
func (s *Session) knownPkg(name string) string {
	if _, isVar := s.decls[name]; isVar {
		return ""
	}
	tables := append([]map[string]map[string]reflect.Value{stdlib.Symbols}, convert(s.opts.Symbols)...)
	best := ""
	for _, t := range tables {
		for k := range t {
			p, n := path.Dir(k), path.Base(k)
			if n == name && (best == "" || len(p) < len(best)) {
				best = p
			}
		}
	}
	return best
}

func convert(x []interp.Exports) []map[string]map[string]reflect.Value {
	out := make([]map[string]map[string]reflect.Value, len(x))
	for i, e := range x {
		out[i] = e
	}
	return out
}
