package kernel

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
)

// ConnectionInfo is a Jupyter connection file.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
}

// ReadConnectionFile parses and checks a connection file.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	var c ConnectionInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: not a valid connection file: %w", path, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Transport != "tcp" && c.Transport != "ipc" {
		return c, fmt.Errorf("%s: transport %q not supported (valid: tcp, ipc)", path, c.Transport)
	}
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	for name, p := range map[string]int{"shell_port": c.ShellPort, "control_port": c.ControlPort,
		"stdin_port": c.StdinPort, "iopub_port": c.IOPubPort, "hb_port": c.HBPort} {
		if p <= 0 || p > 65535 {
			return c, fmt.Errorf("%s: %s %d is not a port", path, name, p)
		}
	}
	return c, nil
}

func (c ConnectionInfo) addr(port int) string {
	if c.Transport == "ipc" {
		return fmt.Sprintf("ipc://%s-%d", c.IP, port)
	}
	return boundScheme + "://" + net.JoinHostPort(c.IP, strconv.Itoa(port))
}
