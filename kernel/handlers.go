package kernel

import (
	"encoding/json"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-zeromq/zmq4"

	"esa/kernel/engine"
	"esa/kernel/session"
	"esa/kernel/wire"
)

// handle answers one request; it reports whether an execute request failed
// with stop_on_error set.
func (k *Kernel) handle(sock zmq4.Socket, m *wire.Message, isControl bool) (abort bool) {
	k.publishStatus(m, "busy")
	defer k.publishStatus(m, "idle")
	switch m.Header.MsgType {
	case "kernel_info_request":
		k.reply(sock, m, "kernel_info_reply", k.kernelInfo())
	case "execute_request":
		return k.execute(sock, m)
	case "complete_request":
		k.complete(sock, m)
	case "inspect_request":
		k.inspect(sock, m)
	case "is_complete_request":
		var c struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(m.Content, &c)
		st, indent := session.IsComplete(c.Code)
		r := map[string]any{"status": st}
		if st == "incomplete" {
			r["indent"] = indent
		}
		k.reply(sock, m, "is_complete_reply", r)
	case "history_request":
		k.reply(sock, m, "history_reply", k.historyReply(m))
	case "comm_info_request":
		k.reply(sock, m, "comm_info_reply", map[string]any{"status": "ok", "comms": map[string]any{}})
	case "comm_open":
		// No comm targets: close it again, as the protocol asks.
		var c struct {
			CommID string `json:"comm_id"`
		}
		_ = json.Unmarshal(m.Content, &c)
		k.publish(m, "comm_close", map[string]any{"comm_id": c.CommID, "data": map[string]any{}})
	case "comm_msg", "comm_close":
	case "interrupt_request":
		k.interrupt()
		k.reply(sock, m, "interrupt_reply", map[string]any{"status": "ok"})
	case "shutdown_request":
		var c struct {
			Restart bool `json:"restart"`
		}
		_ = json.Unmarshal(m.Content, &c)
		k.reply(sock, m, "shutdown_reply", map[string]any{"status": "ok", "restart": c.Restart})
		k.shutdown()
	default:
		k.log.Printf("unhandled message type %q", m.Header.MsgType)
	}
	return false
}

func (k *Kernel) kernelInfo() map[string]any {
	return map[string]any{
		"status":                 "ok",
		"protocol_version":       wire.ProtocolVersion,
		"implementation":         "esa",
		"implementation_version": k.cfg.Version,
		"language_info": map[string]any{
			"name":               "go",
			"version":            strings.TrimPrefix(runtime.Version(), "go"),
			"mimetype":           "text/x-go",
			"file_extension":     ".go",
			"pygments_lexer":     "go",
			"codemirror_mode":    "go",
			"nbconvert_exporter": "script",
		},
		"banner": "esa — Go notebooks on yaegi (" + runtime.Version() + "). Magics: %reset %time %env %doc",
		"help_links": []map[string]string{
			{"text": "Go documentation", "url": "https://go.dev/doc/"},
			{"text": "Go standard library", "url": "https://pkg.go.dev/std"},
			{"text": "yaegi", "url": "https://github.com/traefik/yaegi"},
		},
	}
}

type executeRequest struct {
	Code            string         `json:"code"`
	Silent          bool           `json:"silent"`
	StoreHistory    *bool          `json:"store_history"`
	UserExpressions map[string]any `json:"user_expressions"`
	AllowStdin      bool           `json:"allow_stdin"`
	StopOnError     *bool          `json:"stop_on_error"`
}

func (k *Kernel) execute(sock zmq4.Socket, m *wire.Message) bool {
	var req executeRequest
	if err := json.Unmarshal(m.Content, &req); err != nil {
		k.reply(sock, m, "execute_reply", errorContent("BadRequest", err.Error(), k.count))
		return false
	}
	store := !req.Silent && (req.StoreHistory == nil || *req.StoreHistory)
	stopOnError := req.StopOnError == nil || *req.StopOnError
	if store {
		k.count++
	}
	n := k.count
	intr := make(chan struct{})
	k.curMu.Lock()
	k.current, k.allowIn = m, req.AllowStdin
	k.intr, k.intrOnce = intr, new(sync.Once)
	k.curMu.Unlock()
	defer func() {
		k.curMu.Lock()
		k.intr, k.intrOnce = nil, nil
		k.curMu.Unlock()
	}()
	if !req.Silent {
		k.publish(m, "execute_input", map[string]any{"code": req.Code, "execution_count": n})
	}

	var rep engine.Reply
	eng, err := k.engine()
	if err == nil {
		rep, err = eng.Exec(req.Code, intr)
	}
	var cellErr *session.Error
	switch {
	case err != nil:
		// The engine died (a panic in a goroutine of the cell, os.Exit, a
		// crash in compiled code): start a fresh one and say so.
		cellErr = &session.Error{Name: "EngineDied", Value: err.Error(), Traceback: []string{
			"EngineDied: the execution engine stopped: " + err.Error(),
			"A fresh interpreter was started: values, functions and imports of earlier cells are gone.",
		}}
		if engine.IsDied(err) || eng == nil || eng.Err() != nil {
			if rerr := k.restartEngine(); rerr != nil {
				cellErr.Traceback = append(cellErr.Traceback, "restart failed: "+rerr.Error())
			}
		}
	case rep.Error != nil:
		cellErr = rep.Error
		if cellErr.Stuck {
			cellErr.Traceback = append(cellErr.Traceback,
				"The interrupted code kept running, so the execution engine was restarted: values, functions and imports of earlier cells are gone.")
			if rerr := k.restartEngine(); rerr != nil {
				cellErr.Traceback = append(cellErr.Traceback, "restart failed: "+rerr.Error())
			}
		}
	}
	k.curMu.Lock()
	k.allowIn = false
	k.curMu.Unlock()

	output := ""
	if cellErr == nil && rep.Data != nil && !req.Silent {
		k.publish(m, "execute_result", map[string]any{"execution_count": n, "data": rep.Data, "metadata": map[string]any{}})
		output, _ = rep.Data["text/plain"].(string)
	}
	if store {
		k.history = append(k.history, histEntry{line: n, input: req.Code, output: output})
	}
	if cellErr != nil {
		tb := cellErr.Traceback
		if tb == nil {
			tb = []string{}
		}
		if !req.Silent {
			k.publish(m, "error", map[string]any{"ename": cellErr.Name, "evalue": cellErr.Value, "traceback": tb})
		}
		k.reply(sock, m, "execute_reply", errorContent(cellErr.Name, cellErr.Value, n, tb...))
		return stopOnError
	}
	payload := []any{}
	if rep.Page != "" {
		payload = append(payload, map[string]any{"source": "page", "data": map[string]any{"text/plain": rep.Page}, "start": 0})
	}
	k.reply(sock, m, "execute_reply", map[string]any{
		"status": "ok", "execution_count": n, "user_expressions": k.userExpressions(req.UserExpressions), "payload": payload,
	})
	return false
}

// userExpressions evaluates the frontend's user_expressions after the cell.
func (k *Kernel) userExpressions(exprs map[string]any) map[string]any {
	out := map[string]any{}
	eng, eerr := k.engine()
	for name, x := range exprs {
		code, _ := x.(string)
		if eerr != nil {
			out[name] = errorContent("EngineDied", eerr.Error(), 0)
			continue
		}
		rep, err := eng.Exec(code, nil)
		switch {
		case err != nil:
			out[name] = errorContent("EngineDied", err.Error(), 0)
		case rep.Error != nil:
			out[name] = errorContent(rep.Error.Name, rep.Error.Value, 0, rep.Error.Traceback...)
		default:
			data := rep.Data
			if data == nil {
				data = map[string]any{}
			}
			out[name] = map[string]any{"status": "ok", "data": data, "metadata": map[string]any{}}
		}
	}
	return out
}

func errorContent(name, value string, count int, tb ...string) map[string]any {
	if tb == nil {
		tb = []string{name + ": " + value}
	}
	return map[string]any{"status": "error", "ename": name, "evalue": value, "traceback": tb, "execution_count": count}
}

// cursorBytes converts a cursor position in unicode code points (as the
// protocol counts since 5.2) into a byte offset.
func cursorBytes(code string, pos int) int {
	i := 0
	for n := 0; n < pos && i < len(code); n++ {
		_, w := utf8.DecodeRuneInString(code[i:])
		i += w
	}
	return i
}

func runeCount(code string, b int) int { return utf8.RuneCountInString(code[:b]) }

func (k *Kernel) complete(sock zmq4.Socket, m *wire.Message) {
	var c struct {
		Code   string `json:"code"`
		Cursor int    `json:"cursor_pos"`
	}
	_ = json.Unmarshal(m.Content, &c)
	cur := cursorBytes(c.Code, c.Cursor)
	eng, err := k.engine()
	var rep engine.Reply
	if err == nil {
		rep, err = eng.Complete(c.Code, cur)
	}
	if err != nil {
		k.reply(sock, m, "complete_reply", errorContent("EngineDied", err.Error(), 0))
		return
	}
	matches := rep.Matches
	if matches == nil {
		matches = []string{}
	}
	k.reply(sock, m, "complete_reply", map[string]any{
		"status": "ok", "matches": matches, "cursor_start": runeCount(c.Code, rep.Start),
		"cursor_end": runeCount(c.Code, rep.End), "metadata": map[string]any{},
	})
}

func (k *Kernel) inspect(sock zmq4.Socket, m *wire.Message) {
	var c struct {
		Code   string `json:"code"`
		Cursor int    `json:"cursor_pos"`
	}
	_ = json.Unmarshal(m.Content, &c)
	eng, err := k.engine()
	var rep engine.Reply
	if err == nil {
		rep, err = eng.Inspect(c.Code, cursorBytes(c.Code, c.Cursor))
	}
	if err != nil {
		k.reply(sock, m, "inspect_reply", errorContent("EngineDied", err.Error(), 0))
		return
	}
	data := map[string]any{}
	if rep.Found {
		data["text/plain"] = rep.Text
	}
	k.reply(sock, m, "inspect_reply", map[string]any{"status": "ok", "found": rep.Found, "data": data, "metadata": map[string]any{}})
}

// historyReply serves tail, range and search over this kernel's session
// (session number 0, as ipykernel numbers the current session... here the
// only one).
func (k *Kernel) historyReply(m *wire.Message) map[string]any {
	var c struct {
		Output  bool   `json:"output"`
		Access  string `json:"hist_access_type"`
		Session int    `json:"session"`
		Start   int    `json:"start"`
		Stop    int    `json:"stop"`
		N       int    `json:"n"`
		Pattern string `json:"pattern"`
		Unique  bool   `json:"unique"`
	}
	_ = json.Unmarshal(m.Content, &c)
	var sel []histEntry
	switch c.Access {
	case "tail":
		sel = k.history
		if c.N > 0 && len(sel) > c.N {
			sel = sel[len(sel)-c.N:]
		}
	case "range":
		for _, h := range k.history {
			if h.line >= c.Start && (c.Stop <= 0 || h.line < c.Stop) {
				sel = append(sel, h)
			}
		}
	case "search":
		seen := map[string]bool{}
		for i := len(k.history) - 1; i >= 0; i-- {
			h := k.history[i]
			if !globMatch(c.Pattern, h.input) {
				continue
			}
			if c.Unique && seen[h.input] {
				continue
			}
			seen[h.input] = true
			sel = append(sel, h)
			if c.N > 0 && len(sel) == c.N {
				break
			}
		}
		sort.Slice(sel, func(i, j int) bool { return sel[i].line < sel[j].line })
	}
	out := make([]any, 0, len(sel))
	for _, h := range sel {
		if c.Output {
			var o any
			if h.output != "" {
				o = h.output
			}
			out = append(out, []any{0, h.line, []any{h.input, o}})
		} else {
			out = append(out, []any{0, h.line, h.input})
		}
	}
	return map[string]any{"status": "ok", "history": out}
}

// globMatch matches like Python's fnmatch (IPython's history search): *
// matches any text, newlines and slashes included; ? one character.
func globMatch(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}
