package session

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
)

// yaegi v0.16 keeps the first definition of a type when a later cell
// defines the same name again, without a word: values of the new shape then
// fail in confusing ways ("too many values in struct literal"). The session
// remembers each type's definition and refuses a different one, pointing at
// %reset. Re-running the same definition is fine.

// typeDef returns the canonical text of a type spec, its tokens without
// comments and semicolons, to compare definitions whatever their layout.
func typeDef(src string, sp *ast.TypeSpec, base int) string {
	text := src[int(sp.Pos())-1-base : int(sp.End())-1-base]
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(text)), []byte(text), nil, 0)
	var toks []string
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON {
			continue
		}
		if lit == "" {
			lit = tok.String()
		}
		toks = append(toks, lit)
	}
	return strings.Join(toks, " ")
}

// typeSpecs parses the top-level type declarations of a declaration
// segment; canon returns a spec's canonical definition.
func typeSpecs(src string) (specs []*ast.TypeSpec, canon func(*ast.TypeSpec) string) {
	const pre = "package p;"
	f, err := parser.ParseFile(token.NewFileSet(), "", pre+src, 0)
	if err != nil {
		return nil, nil
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
			for _, sp := range g.Specs {
				specs = append(specs, sp.(*ast.TypeSpec))
			}
		}
	}
	return specs, func(sp *ast.TypeSpec) string { return typeDef(pre+src, sp, 0) }
}

// checkTypeRedefinitions fails a cell that redefines a type of an earlier
// cell differently, before any of the cell runs.
func (s *Session) checkTypeRedefinitions(code string, segs []segment, cell string) *Error {
	for _, sg := range segs {
		if sg.kind != segDecl {
			continue
		}
		text := code[sg.start:sg.end]
		specs, canon := typeSpecs(text)
		for _, sp := range specs {
			old, ok := s.typeDefs[sp.Name.Name]
			if !ok || old == canon(sp) {
				continue
			}
			line := strings.Count(code[:sg.start], "\n") + strings.Count(text[:int(sp.Pos())-1-len("package p;")], "\n") + 1
			lines := strings.Split(cell, "\n")
			e := &Error{Name: "TypeRedefined",
				Value: fmt.Sprintf("line %d: type %s is already defined by an earlier cell as %q", line, sp.Name.Name, old)}
			e.Traceback = []string{
				fmt.Sprintf("TypeRedefined: line %d: type %s is already defined by an earlier cell:", line, sp.Name.Name),
				"  type " + old,
			}
			if line >= 1 && line <= len(lines) {
				e.Traceback = append(e.Traceback, fmt.Sprintf("  line %d | %s", line, strings.TrimRight(lines[line-1], " \t")))
			}
			e.Traceback = append(e.Traceback,
				"The interpreter cannot change a type once defined: it would silently keep the old definition.",
				"Run %reset for a fresh interpreter (values, functions, types and imports of earlier cells are forgotten) and re-run your cells, or give the new type another name.")
			return e
		}
	}
	return nil
}

// recordTypes remembers the types a declaration segment defined.
func (s *Session) recordTypes(src string) {
	specs, canon := typeSpecs(src)
	for _, sp := range specs {
		s.typeDefs[sp.Name.Name] = canon(sp)
	}
}
