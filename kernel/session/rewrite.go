package session

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// rewriteModern bridges Go features yaegi v0.16 lacks, by text edits that keep
// every line where it was (so error line numbers still match the cell):
//   - range over an integer becomes a counting loop (yaegi panics on it);
//   - loop variables captured by closures or goroutines get a per-iteration
//     copy (Go 1.22 semantics; yaegi shares one variable);
//   - a top-level type switch is wrapped in a block (yaegi panics on it).
//
// env.isGlobalInt reports whether a global identifier currently holds an
// integer; it lets "for i := range n" work when n was defined in an earlier
// cell. env.probeInt asks the interpreter whether an expression of earlier
// cells' globals ("cfg.Layers", "count()") is an integer, without running it.
// Range statements over expressions it cannot classify are returned, so that
// yaegi's "nil type" failure on them can be explained.
func rewriteModern(src string, segs []segment, env rewriteEnv) (string, []rangeNote) {
	var edits []edit
	var unsure []rangeNote
	local := localInts(src, segs)
	isInt := func(name string) bool { return local[name] || (env.isGlobalInt != nil && env.isGlobalInt(name)) }
	n := 0
	fresh := func() string { n++; return fmt.Sprintf("__esa%d", n) }
	for _, sg := range segs {
		text := src[sg.start:sg.end]
		var root ast.Node
		var base int // offset of text[0] in the parsed source
		fset := token.NewFileSet()
		switch sg.kind {
		case segImport:
			continue
		case segDecl:
			const pre = "package p;"
			f, err := parser.ParseFile(fset, "", pre+text, 0)
			if err != nil {
				continue
			}
			root, base = f, len(pre)
		default:
			const pre = "package p;func _(){"
			f, err := parser.ParseFile(fset, "", pre+text+"\n}", 0)
			if err != nil {
				continue
			}
			body := f.Decls[0].(*ast.FuncDecl).Body
			root, base = body, len(pre)
			for _, st := range body.List {
				s, e := off(fset, st.Pos())-base, off(fset, st.End())-base
				switch l := st.(type) {
				case *ast.TypeSwitchStmt:
					edits = append(edits, edit{sg.start + s, sg.start + s, "{ "}, edit{sg.start + e, sg.start + e, " }"})
				case *ast.ForStmt, *ast.RangeStmt:
					// Variables of top-level statements are globals in yaegi, so
					// a per-iteration copy needs a function scope.
					var b *ast.BlockStmt
					if f, ok := l.(*ast.ForStmt); ok {
						b = f.Body
					} else {
						b = l.(*ast.RangeStmt).Body
					}
					if captures(b) {
						edits = append(edits, edit{sg.start + s, sg.start + s, "func() { "}, edit{sg.start + e, sg.start + e, " }()"})
					}
				}
			}
		}
		at := func(p token.Pos) int { return sg.start + off(fset, p) - base }
		src := src
		ast.Inspect(root, func(nd ast.Node) bool {
			switch l := nd.(type) {
			case *ast.RangeStmt:
				keyOnly := l.Value == nil && (l.Key == nil || l.Tok == token.DEFINE)
				xs := src[at(l.X.Pos()):at(l.X.End())]
				if keyOnly && !intLike(l.X, isInt) && maybeInt(l.X) {
					if env.probeInt != nil && !strings.Contains(xs, "\n") && env.probeInt(xs) {
						l.X = &ast.CallExpr{Fun: ast.NewIdent("int"), Lparen: l.X.Pos(), Args: []ast.Expr{l.X}, Rparen: l.X.End()}
					} else {
						unsure = append(unsure, rangeNote{line: strings.Count(src[:at(l.For)], "\n") + 1, expr: xs})
					}
				}
				if keyOnly && intLike(l.X, isInt) {
					key := fresh()
					if l.Key != nil {
						key = l.Key.(*ast.Ident).Name
						if key == "_" {
							key = fresh()
						}
					}
					x := xs
					lim := fresh()
					hdr := fmt.Sprintf("for %s, %s := 0*(%s), (%s); %s < %s; %s++ ", key, lim, x, x, key, lim, key)
					if strings.Contains(src[at(l.For):at(l.Body.Lbrace)], "\n") {
						return true // a header over several lines: leave it (rare) rather than shift lines
					}
					edits = append(edits, edit{at(l.For), at(l.Body.Lbrace), hdr})
					return true
				}
				if l.Tok == token.DEFINE && captures(l.Body) {
					for _, e := range []ast.Expr{l.Key, l.Value} {
						if id, ok := e.(*ast.Ident); ok && id.Name != "_" && !declares(l.Body, id.Name) {
							edits = append(edits, perIteration(l.Body, id.Name, fresh(), at)...)
						}
					}
				}
			case *ast.ForStmt:
				init, ok := l.Init.(*ast.AssignStmt)
				if !ok || init.Tok != token.DEFINE || !captures(l.Body) {
					return true
				}
				for _, e := range init.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" && !assigns(l.Body, id.Name) && !declares(l.Body, id.Name) {
						edits = append(edits, perIteration(l.Body, id.Name, fresh(), at)...)
					}
				}
			}
			return true
		})
	}
	sortEdits(edits)
	return applyEdits(src, edits), unsure
}

// rewriteEnv is what rewriteModern may ask the session.
type rewriteEnv struct {
	isGlobalInt func(name string) bool
	probeInt    func(expr string) bool
}

// rangeNote is a range statement over an expression that may be an integer
// but could not be shown to be one.
type rangeNote struct {
	line int
	expr string
}

// maybeInt reports whether x could be an integer: it is not visibly a
// slice, map, string, channel or function value.
func maybeInt(x ast.Expr) bool {
	switch e := unparen(x).(type) {
	case *ast.Ident, *ast.SelectorExpr, *ast.IndexExpr, *ast.StarExpr:
		return true
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok {
			switch id.Name {
			case "make", "append", "new", "string", "complex", "real", "imag", "min", "max":
				return id.Name == "min" || id.Name == "max"
			}
		}
		if _, ok := e.Fun.(*ast.ArrayType); ok {
			return false
		}
		return true
	case *ast.BinaryExpr:
		return maybeInt(e.X) && maybeInt(e.Y)
	}
	return false
}

func off(fset *token.FileSet, p token.Pos) int { return fset.Position(p).Offset }

// perIteration gives a loop body its own copy of loop variable name: yaegi
// shares one variable across iterations, and its "i := i" in a loop body is
// broken (it loops forever), so the copy gets a fresh name and every use of
// the variable in the body is renamed.
func perIteration(body *ast.BlockStmt, name, fresh string, at func(token.Pos) int) []edit {
	p := at(body.Lbrace) + 1
	edits := []edit{{p, p, " " + fresh + " := " + name + ";"}}
	sel := map[*ast.Ident]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			sel[s.Sel] = true
		}
		return true
	})
	ast.Inspect(body, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == name && !sel[id] {
			edits = append(edits, edit{at(id.Pos()), at(id.End()), fresh})
		}
		return true
	})
	return edits
}

// declares reports whether body declares name itself (then renaming its
// uses would be wrong, so the loop is left as it is).
func declares(body *ast.BlockStmt, name string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == name {
						found = true
					}
				}
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{s.Key, s.Value} {
				if id, ok := e.(*ast.Ident); ok && s.Tok == token.DEFINE && id.Name == name {
					found = true
				}
			}
		case *ast.ValueSpec:
			for _, id := range s.Names {
				if id.Name == name {
					found = true
				}
			}
		case *ast.Field:
			for _, id := range s.Names {
				if id.Name == name {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func sortEdits(e []edit) {
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && e[j].start < e[j-1].start; j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}

// intLike reports whether x is certainly an integer expression.
func intLike(x ast.Expr, isInt func(string) bool) bool {
	switch e := x.(type) {
	case *ast.BasicLit:
		return e.Kind == token.INT
	case *ast.ParenExpr:
		return intLike(e.X, isInt)
	case *ast.Ident:
		return isInt != nil && isInt(e.Name)
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok {
			switch id.Name {
			case "len", "cap", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr":
				return true
			}
		}
	case *ast.BinaryExpr:
		switch e.Op {
		case token.ADD, token.SUB, token.MUL, token.QUO, token.REM, token.SHL, token.SHR, token.AND, token.OR, token.XOR:
			return intLike(e.X, isInt) || intLike(e.Y, isInt)
		}
	case *ast.UnaryExpr:
		return e.Op == token.SUB && intLike(e.X, isInt)
	}
	return false
}

// captures reports whether a loop body holds a closure or a go statement,
// the only places where per-iteration loop variables change behaviour.
func captures(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n.(type) {
		case *ast.FuncLit, *ast.GoStmt:
			found = true
		}
		return !found
	})
	return found
}

// assigns reports whether body assigns to name (then a per-iteration copy
// would change the loop's behaviour, so it is not made).
func assigns(body *ast.BlockStmt, name string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			for _, l := range s.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == name {
					found = true
				}
			}
		case *ast.IncDecStmt:
			if id, ok := s.X.(*ast.Ident); ok && id.Name == name {
				found = true
			}
		case *ast.UnaryExpr:
			if id, ok := s.X.(*ast.Ident); ok && s.Op == token.AND && id.Name == name {
				found = true
			}
		}
		return !found
	})
	return found
}

// localInts finds the names a cell itself defines as integers ("n := 4",
// "var n int"), so that a later "for range n" in the same cell is rewritten.
func localInts(src string, segs []segment) map[string]bool {
	out := map[string]bool{}
	for _, sg := range segs {
		text := src[sg.start:sg.end]
		var nodes []ast.Node
		if sg.kind == segStmt {
			st, err := parseStmts(text)
			if err != nil {
				continue
			}
			for _, x := range st {
				nodes = append(nodes, x)
			}
		} else if f, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+text, 0); err == nil {
			for _, d := range f.Decls {
				nodes = append(nodes, d)
			}
		}
		for _, nd := range nodes {
			ast.Inspect(nd, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.AssignStmt:
					if x.Tok == token.DEFINE && len(x.Lhs) == len(x.Rhs) {
						for i, l := range x.Lhs {
							if id, ok := l.(*ast.Ident); ok && intLike(x.Rhs[i], func(n string) bool { return out[n] }) {
								out[id.Name] = true
							}
						}
					}
				case *ast.ValueSpec:
					for i, id := range x.Names {
						if t, ok := x.Type.(*ast.Ident); ok && intLike(&ast.CallExpr{Fun: t}, nil) {
							out[id.Name] = true
						} else if x.Type == nil && i < len(x.Values) && intLike(x.Values[i], func(n string) bool { return out[n] }) {
							out[id.Name] = true
						}
					}
				case *ast.FuncType:
					// Integer parameters: "func f(n int) { for i := range n {} }".
					if x.Params != nil {
						for _, fld := range x.Params.List {
							if t, ok := fld.Type.(*ast.Ident); ok && intLike(&ast.CallExpr{Fun: t}, nil) {
								for _, id := range fld.Names {
									out[id.Name] = true
								}
							}
						}
					}
				case *ast.FuncLit:
					return false
				}
				return true
			})
		}
	}
	return out
}
