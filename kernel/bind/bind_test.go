package bind

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestConnectionFileArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--connection-file", "a.json"}, "a.json"},
		{[]string{"--connection-file=b.json"}, "b.json"},
		{[]string{"-f", "c.json"}, "c.json"},
		{[]string{"-f=d.json"}, "d.json"},
		{[]string{"e.json"}, "e.json"},
		{[]string{"--other", "x", "-f", "g.json"}, "g.json"},
		{[]string{"--connection-file"}, ""},
		{[]string{"x", "y"}, ""},
	} {
		if got := connectionFile(c.args); got != c.want {
			t.Errorf("%q: got %q, want %q", c.args, got, c.want)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestEarlyBindsAndHandsOut(t *testing.T) {
	p := []int{freePort(t), freePort(t)}
	path := filepath.Join(t.TempDir(), "conn.json")
	// Layout as Jupyter writes it, ports in another order, extra fields.
	body := fmt.Sprintf("{\n  \"shell_port\": %d,\n  \"iopub_port\" :%d,\n  \"ip\": \"127.0.0.1\",\n  \"key\": \"a\\\"b\",\n  \"transport\": \"tcp\",\n  \"signature_scheme\": \"hmac-sha256\"\n}", p[0], p[1])
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	Early(path)
	if Count() != 2 {
		t.Fatalf("%d sockets bound, want 2", Count())
	}
	// A client can connect before anyone accepts: the port listens.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p[0]))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	f, ok := Take(fmt.Sprintf("127.0.0.1:%d", p[0]))
	if !ok {
		t.Fatal("shell socket not handed out")
	}
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept() // the connection made above waited in the backlog
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	l.Close()
	if _, ok := Take(fmt.Sprintf("127.0.0.1:%d", p[0])); ok {
		t.Fatal("a socket was handed out twice")
	}
	f, _ = Take(fmt.Sprintf("127.0.0.1:%d", p[1]))
	f.Close()
}

func TestEarlyIgnoresWhatItCannotBind(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"ipc.json":  `{"transport": "ipc", "ip": "kernel", "shell_port": 5}`,
		"ipv6.json": fmt.Sprintf(`{"ip": "::1", "shell_port": %d}`, freePort(t)),
		"host.json": fmt.Sprintf(`{"ip": "localhost", "shell_port": %d}`, freePort(t)),
		"bad.json":  `{"ip": "127.0.0.1", "shell_port": "x", "hb_port": 70000}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		Early(p)
		if n := Count(); n != 0 {
			t.Errorf("%s: bound %d sockets", name, n)
		}
	}
	Early(filepath.Join(dir, "missing.json"))
	if Count() != 0 {
		t.Fatal("bound from a missing file")
	}
}

func TestParseIPv4(t *testing.T) {
	for s, ok := range map[string]bool{"127.0.0.1": true, "0.0.0.0": true, "256.0.0.1": false, "1.2.3": false, "a.b.c.d": false, "1..2.3": false} {
		if _, got := parseIPv4(s); got != ok {
			t.Errorf("%s: %v", s, got)
		}
	}
}
