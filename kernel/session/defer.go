package session

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// rewriteDefers works around a yaegi v0.16 bug: `defer f(x)` evaluates x
// when the deferred call runs instead of when the defer statement runs, so
// `x := 1; defer fmt.Println(x); x = 2` prints 2. Each argument that can
// change is copied into a fresh variable right before the defer statement
// (on the same line, so line numbers stay put):
//
//	__esaD1 := x; defer fmt.Println(__esaD1)
//
// A variable declared in a loop body is a new variable on every iteration in
// yaegi too, so copies made in loops keep their own values. Left alone:
// constant arguments (they cannot change, and an untyped constant would get
// the wrong type), function literals, arguments written over several lines,
// and a sole call argument (it may return several values). The receiver of a
// deferred method call is not copied either: whether Go copies it depends on
// the method's receiver type, which the rewrite cannot see.
func rewriteDefers(src string, segs []segment, isConst func(name string) bool) string {
	var edits []edit
	n := 0
	for _, sg := range segs {
		text := src[sg.start:sg.end]
		pre := "package p;func _(){"
		suffix := "\n}"
		if sg.kind == segDecl {
			pre, suffix = "package p;", ""
		} else if sg.kind == segImport {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "", pre+text+suffix, 0)
		if err != nil {
			continue
		}
		at := func(p token.Pos) int { return sg.start + fset.Position(p).Offset - len(pre) }
		local := localConsts(f)
		konst := func(name string) bool { return local[name] || (isConst != nil && isConst(name)) }
		labeled := map[ast.Stmt]bool{}
		ast.Inspect(f, func(nd ast.Node) bool {
			if l, ok := nd.(*ast.LabeledStmt); ok {
				labeled[l.Stmt] = true
			}
			d, ok := nd.(*ast.DeferStmt)
			if !ok || labeled[d] {
				return true
			}
			args := d.Call.Args
			if len(args) == 1 {
				if _, isCall := unparen(args[0]).(*ast.CallExpr); isCall {
					return false
				}
			}
			var copies []string
			var repl []edit
			for _, a := range args {
				if constExpr(a, konst) {
					continue
				}
				if _, ok := a.(*ast.FuncLit); ok {
					continue
				}
				s, e := at(a.Pos()), at(a.End())
				if strings.Contains(src[s:e], "\n") {
					continue
				}
				n++
				name := fmt.Sprintf("__esaD%d", n)
				copies = append(copies, name+" := "+src[s:e]+"; ")
				repl = append(repl, edit{s, e, name})
			}
			if len(copies) == 0 {
				return false
			}
			p := at(d.Defer)
			edits = append(edits, edit{p, p, strings.Join(copies, "")})
			edits = append(edits, repl...)
			// Defers inside the arguments (in function literals) are left
			// alone: their text is being moved.
			return false
		})
	}
	sortEdits(edits)
	return applyEdits(src, edits)
}

// constExpr reports whether e is a constant expression: literals, constant
// names, nil, true, false, and operators on them.
func constExpr(e ast.Expr, isConst func(string) bool) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		switch x.Name {
		case "nil", "true", "false", "iota":
			return true
		}
		return isConst(x.Name)
	case *ast.ParenExpr:
		return constExpr(x.X, isConst)
	case *ast.UnaryExpr:
		return x.Op != token.AND && x.Op != token.ARROW && constExpr(x.X, isConst)
	case *ast.BinaryExpr:
		return constExpr(x.X, isConst) && constExpr(x.Y, isConst)
	case *ast.SelectorExpr:
		// math.Pi, time.Second: a package constant; cannot be told apart from a
		// field here, so only well-known constant-looking package members are
		// treated as constants by the caller's isConst.
		if id, ok := x.X.(*ast.Ident); ok {
			return isConst(id.Name + "." + x.Sel.Name)
		}
	}
	return false
}

// localConsts lists the names declared const anywhere in f.
func localConsts(f *ast.File) map[string]bool {
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, sp := range g.Specs {
				for _, id := range sp.(*ast.ValueSpec).Names {
					out[id.Name] = true
				}
			}
		}
		return true
	})
	return out
}
