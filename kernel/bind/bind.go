// Package bind opens the Jupyter kernel's TCP ports while the program is
// still initializing, before the rest of the binary's packages (the
// interpreter's symbol tables, the numeric libraries) have run their init
// functions.
//
// Why: a frontend starts the kernel and connects its sockets a few
// milliseconds later. If nothing listens yet, ZeroMQ waits its reconnect
// interval (100 to 200 ms) before trying again, which made start→ready
// about 200 ms slower than the kernel itself needs. Go initializes a
// package as soon as its imports are initialized, taking import paths in
// sorted order, so this package imports only os and syscall (no net, no
// encoding/json: they come late) and binds within a millisecond or two of
// exec. The kernel later hands the bound sockets to ZeroMQ.
//
// Nothing happens unless the command line is `esa kernel ...` with a
// connection file that uses tcp on an IPv4 address.
package bind

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

var (
	mu      sync.Mutex
	sockets = map[string]*os.File{} // "ip:port" -> bound, listening socket
)

func init() {
	if os.Getenv("ESA_ENGINE_CHILD") != "" || len(os.Args) < 3 || os.Args[1] != "kernel" {
		return
	}
	if path := connectionFile(os.Args[2:]); path != "" {
		Early(path)
	}
}

// connectionFile finds the connection file in the kernel command's
// arguments the way its flags accept it: --connection-file F,
// --connection-file=F, -f F, -f=F, or a lone positional argument.
func connectionFile(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			if len(args) == 1 {
				return a
			}
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "connection-file" && name != "f" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Early binds the tcp ports named in a connection file. Errors are ignored:
// the kernel binds again, and reports them, when it starts.
func Early(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	doc := string(b)
	if t, ok := jsonString(doc, "transport"); ok && t != "tcp" {
		return
	}
	ipText, ok := jsonString(doc, "ip")
	if !ok {
		ipText = "127.0.0.1"
	}
	ip, ok := parseIPv4(ipText)
	if !ok {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, key := range []string{"shell_port", "control_port", "stdin_port", "iopub_port", "hb_port"} {
		port, ok := jsonInt(doc, key)
		if !ok || port <= 0 || port > 65535 {
			continue
		}
		if f := listen(ip, port); f != nil {
			sockets[ipText+":"+itoa(port)] = f
		}
	}
}

// listen opens a listening TCP socket the way net.Listen does on Linux
// (non-blocking, close-on-exec, SO_REUSEADDR).
func listen(ip [4]byte, port int) *os.File {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) != nil ||
		syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: ip}) != nil ||
		syscall.Listen(fd, 128) != nil {
		syscall.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), "esa-kernel-port")
}

// Take returns the socket bound early for addr ("ip:port"), if any; each is
// handed out once, and the caller owns it.
func Take(addr string) (*os.File, bool) {
	mu.Lock()
	defer mu.Unlock()
	f, ok := sockets[addr]
	delete(sockets, addr)
	return f, ok
}

// Count is the number of sockets bound and not yet taken.
func Count() int {
	mu.Lock()
	defer mu.Unlock()
	return len(sockets)
}

// jsonString finds "key": "value" in a flat JSON object. Connection files
// hold no escapes in the fields read here; a value with one is not used.
func jsonString(doc, key string) (string, bool) {
	rest, ok := afterKey(doc, key)
	if !ok || !strings.HasPrefix(rest, `"`) {
		return "", false
	}
	end := strings.IndexByte(rest[1:], '"')
	if end < 0 || strings.Contains(rest[1:1+end], `\`) {
		return "", false
	}
	return rest[1 : 1+end], true
}

// jsonInt finds "key": 123 in a flat JSON object.
func jsonInt(doc, key string) (int, bool) {
	rest, ok := afterKey(doc, key)
	if !ok {
		return 0, false
	}
	n, digits := 0, 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' && digits < 6 {
		n = n*10 + int(rest[digits]-'0')
		digits++
	}
	return n, digits > 0
}

// afterKey returns what follows `"key":` (spaces skipped).
func afterKey(doc, key string) (string, bool) {
	i := strings.Index(doc, `"`+key+`"`)
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(doc[i+len(key)+2:], " \t\r\n")
	if !strings.HasPrefix(rest, ":") {
		return "", false
	}
	return strings.TrimLeft(rest[1:], " \t\r\n"), true
}

func parseIPv4(s string) ([4]byte, bool) {
	var ip [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return ip, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return ip, false
		}
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return ip, false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return ip, false
		}
		ip[i] = byte(n)
	}
	return ip, true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
