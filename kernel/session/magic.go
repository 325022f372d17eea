package session

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Magics: a cell whose first non-blank line starts with % is a magic.
//
//	%reset            fresh interpreter: forget every value, function, type, import
//	%time CODE        run CODE (the rest of the line, or of the cell) and print the wall time
//	%env              list the environment; %env NAME prints one; %env NAME=VALUE sets one
//	%doc NAME         show the documentation of NAME in the pager
type magicCall struct {
	name, args, rest string
}

// Magics lists the supported magics, for error messages and completion.
var Magics = []string{"%doc", "%env", "%reset", "%time"}

func parseMagic(code string) (magicCall, bool) {
	t := strings.TrimLeft(code, " \t\r\n")
	if !strings.HasPrefix(t, "%") {
		return magicCall{}, false
	}
	line, rest, _ := strings.Cut(t, "\n")
	name, args, _ := strings.Cut(strings.TrimSpace(line), " ")
	// Keep the body's line numbers: the magic line is line 1 of the cell.
	lead := strings.Count(code[:len(code)-len(t)], "\n")
	return magicCall{strings.TrimPrefix(name, "%%"), strings.TrimSpace(args), strings.Repeat("\n", lead+1) + rest}, true
}

func (s *Session) magic(ctx context.Context, m magicCall) Result {
	name := strings.TrimPrefix(m.name, "%")
	switch name {
	case "reset":
		if err := s.Reset(); err != nil {
			return Result{Err: &Error{Name: "ResetError", Value: err.Error(), Traceback: []string{err.Error()}}}
		}
		fmt.Fprintln(s.opts.Stdout, "interpreter reset: values, functions, types and imports of earlier cells are gone")
		return Result{}
	case "time":
		code := m.rest
		if m.args != "" {
			code = m.args + "\n" + strings.TrimPrefix(m.rest, "\n")
		}
		t := time.Now()
		r := s.exec(ctx, code)
		fmt.Fprintf(s.opts.Stdout, "Wall time: %v\n", time.Since(t).Round(time.Microsecond))
		return r
	case "doc":
		text, ok := s.Inspect(m.args, len(m.args))
		if !ok {
			msg := fmt.Sprintf("%s: nothing known by that name (import its package first)", m.args)
			return Result{Err: &Error{Name: "NameError", Value: msg, Traceback: []string{"NameError: " + msg}}}
		}
		return Result{Page: text}
	case "env":
		switch {
		case m.args == "":
			env := os.Environ()
			sort.Strings(env)
			for _, e := range env {
				fmt.Fprintln(s.opts.Stdout, e)
			}
		case strings.ContainsAny(m.args, "= "):
			k, v, _ := strings.Cut(m.args, "=")
			if !strings.Contains(m.args, "=") {
				k, v, _ = strings.Cut(m.args, " ")
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if err := os.Setenv(k, v); err != nil {
				return Result{Err: &Error{Name: "EnvError", Value: err.Error(), Traceback: []string{err.Error()}}}
			}
			fmt.Fprintf(s.opts.Stdout, "env: %s=%s\n", k, v)
		default:
			v, ok := os.LookupEnv(m.args)
			if !ok {
				msg := fmt.Sprintf("environment variable %s is not set", m.args)
				return Result{Err: &Error{Name: "KeyError", Value: msg, Traceback: []string{"KeyError: " + msg}}}
			}
			return Result{Data: map[string]any{"text/plain": fmt.Sprintf("%q", v)}}
		}
		return Result{}
	}
	msg := fmt.Sprintf("unknown magic %%%s (valid: %s)", name, strings.Join(Magics, ", "))
	return Result{Err: &Error{Name: "UsageError", Value: msg, Traceback: []string{"UsageError: " + msg}}}
}
