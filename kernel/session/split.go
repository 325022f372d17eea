package session

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
)

// A segment is one top-level declaration or statement of a cell, as byte
// offsets into the cell source.
type segment struct {
	start, end int
	kind       segKind
	firstTok   token.Token
}

type segKind int

const (
	segStmt segKind = iota
	segDecl
	segImport
)

// keywordSet records which keywords a cell uses, so that passes that only
// matter for some of them can be skipped.
type keywordSet uint8

const (
	kwFor keywordSet = 1 << iota
	kwSwitch
	kwDefer
	kwType
)

// splitCell cuts a cell into top-level declarations and statements. yaegi
// decides from a source's first token whether it holds declarations or
// statements, so a cell mixing both must be evaluated piecewise.
func splitCell(src string) ([]segment, keywordSet, error) {
	fset := token.NewFileSet()
	file := fset.AddFile("cell", -1, len(src))
	var errs scanner.ErrorList
	var s scanner.Scanner
	s.Init(file, []byte(src), func(pos token.Position, msg string) { errs.Add(pos, msg) }, scanner.ScanComments)

	var segs []segment
	depth := 0
	cur := segment{start: -1}
	var prev token.Token
	inHeader := false // inside "for/if/switch ... {": its semicolons do not end a statement
	var kw keywordSet
	for {
		pos, tok, lit := s.Scan()
		switch tok {
		case token.FOR:
			kw |= kwFor
		case token.SWITCH:
			kw |= kwSwitch
		case token.DEFER:
			kw |= kwDefer
		case token.TYPE:
			kw |= kwType
		}
		off := file.Offset(pos)
		if tok == token.EOF {
			if cur.start >= 0 {
				cur.end = len(src)
				segs = append(segs, cur)
			}
			break
		}
		switch tok {
		case token.FOR, token.IF, token.SWITCH:
			if depth == 0 {
				inHeader = true
			}
		case token.LBRACE:
			if depth == 0 {
				inHeader = false
			}
		}
		switch tok {
		case token.LPAREN, token.LBRACE, token.LBRACK:
			depth++
		case token.RPAREN, token.RBRACE, token.RBRACK:
			depth--
		}
		if tok == token.SEMICOLON && depth <= 0 && !inHeader {
			if cur.start >= 0 {
				cur.end = off
				if lit == ";" {
					cur.end = off + 1
				}
				segs = append(segs, cur)
				cur = segment{start: -1}
			}
			prev = tok
			continue
		}
		if tok == token.COMMENT {
			// A comment opens a segment (a doc comment belongs to the
			// declaration after it) but does not decide its kind.
			if cur.start < 0 {
				cur = segment{start: off, firstTok: token.COMMENT}
			}
			continue
		}
		if cur.start < 0 {
			cur = segment{start: off, firstTok: tok}
		} else if cur.firstTok == token.COMMENT {
			cur.firstTok = tok
		}
		prev = tok
	}
	_ = prev
	if len(errs) > 0 {
		return nil, 0, errs
	}
	for i := range segs {
		seg := &segs[i]
		text := src[seg.start:seg.end]
		switch seg.firstTok {
		case token.IMPORT:
			seg.kind = segImport
		case token.TYPE, token.CONST, token.VAR:
			seg.kind = segDecl
		case token.FUNC:
			// "func f()" and "func (r T) m()" are declarations; "func() {...}()"
			// is a statement.
			if _, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+text, 0); err == nil {
				seg.kind = segDecl
			}
		}
	}
	return segs, kw, nil
}

// A group is a run of segments evaluated by one yaegi Eval call.
type group struct {
	kind       segKind
	start, end int
	tail       bool // a single trailing expression statement whose value may be displayed
}

// groupSegments merges adjacent segments of the same kind; each import is its
// own group (imports must precede other declarations in a file), and a
// trailing expression statement becomes its own group.
func groupSegments(src string, segs []segment) []group {
	var gs []group
	for i, s := range segs {
		last := i == len(segs)-1
		tail := last && s.kind == segStmt && isExprStmt(src[s.start:s.end])
		if n := len(gs); n > 0 && !tail && s.kind != segImport && gs[n-1].kind == s.kind && !gs[n-1].tail {
			gs[n-1].end = s.end
			continue
		}
		gs = append(gs, group{kind: s.kind, start: s.start, end: s.end, tail: tail})
	}
	return gs
}

func isExprStmt(text string) bool {
	stmts, err := parseStmts(text)
	if err != nil || len(stmts) != 1 {
		return false
	}
	_, ok := stmts[0].(*ast.ExprStmt)
	return ok
}

func parseStmts(text string) ([]ast.Stmt, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p;func _(){"+text+"\n}", 0)
	if err != nil {
		return nil, err
	}
	return f.Decls[0].(*ast.FuncDecl).Body.List, nil
}

// padded returns src[start:end] preceded by enough newlines that yaegi's line
// numbers are the cell's line numbers.
func padded(src string, start, end int) string {
	line := strings.Count(src[:start], "\n")
	return strings.Repeat("\n", line) + src[start:end]
}

// An edit replaces src[start:end] by text.
type edit struct {
	start, end int
	text       string
}

func applyEdits(src string, edits []edit) string {
	if len(edits) == 0 {
		return src
	}
	// Edits are collected in source order and never overlap.
	var b strings.Builder
	last := 0
	for _, e := range edits {
		if e.start < last {
			continue
		}
		b.WriteString(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(src[last:])
	return b.String()
}
