package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is a jupyter-notebook server on 127.0.0.1 with its own config,
// data and runtime folders, so nothing of the user's Jupyter is read or
// written, and no token (it listens on loopback only, for this test).
type server struct {
	URL  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error // the server's exit
}

// startJupyter serves dir with the kernelspecs under jupyterPath.
func startJupyter(t *testing.T, notebook, dir, jupyterPath string) *server {
	t.Helper()
	port := freePort(t)
	tmp := t.TempDir()
	cmd := exec.Command(notebook, "--no-browser", "--ip=127.0.0.1", "--port="+strconv.Itoa(port), "--port-retries=0",
		"--notebook-dir="+dir, "--NotebookApp.token=", "--NotebookApp.password=", "--NotebookApp.open_browser=False")
	if os.Geteuid() == 0 {
		// CI containers run as root, which the server refuses by default.
		cmd.Args = append(cmd.Args, "--allow-root")
	}
	cmd.Env = append(os.Environ(),
		"JUPYTER_PATH="+jupyterPath,
		"JUPYTER_CONFIG_DIR="+filepath.Join(tmp, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(tmp, "data"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(tmp, "runtime"),
		"JUPYTER_PLATFORM_DIRS=1",
		"IPYTHONDIR="+filepath.Join(tmp, "ipython"),
	)
	// Its own process group, so stop can end the server and anything it
	// started that is still in the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", notebook, err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/api/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jupyter-notebook did not answer on %s within 60 s; its log:\n%s", s.URL, s.log.String())
		}
		select {
		case err := <-s.done:
			s.done <- err // for stop
			t.Fatalf("jupyter-notebook exited (%v) before serving; its log:\n%s", err, s.log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop shuts every kernel down through the REST API (kernels run in their
// own sessions, out of the server's process group), then ends the server.
func (s *server) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var kernels []struct {
		ID string `json:"id"`
	}
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/kernels", nil); err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&kernels)
			resp.Body.Close()
		}
	}
	for _, k := range kernels {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.URL+"/api/kernels/"+k.ID, nil)
		if err != nil {
			continue
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		} else {
			t.Logf("shutting down kernel %s: %v", k.ID, err)
		}
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
