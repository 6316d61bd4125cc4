package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/storage"
)

// nvrBin is the nvr binary built once for the end-to-end tests, which run
// it as a user would: as a separate process that can be killed.
var nvrBin string

func TestMain(m *testing.M) {
	if os.Getenv(signalHelperEnv) != "" {
		signalHelper() // a child process of TestSecondInterruptEndsNvr
	}
	dir, err := os.MkdirTemp("", "nvr-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nvrBin = filepath.Join(dir, "nvr")
	out, err := exec.Command("go", "build", "-o", nvrBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building nvr: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Main(m) // the PostgreSQL of TestServeTwoNodes, if it ran
	s3test.Cleanup()       // the SeaweedFS of TestServeUploadsToBucket, if it ran
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool finds an external tool; without it the test skips on a
// developer machine and fails in CI.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nvrProc is a running `nvr serve`.
type nvrProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	base   string
	log    *os.File
	cfg    string
	exited chan error
	// token, if set, goes with every request of get, getJSON and body.
	token string
}

// get sends GET path (with the token, if set).
func (p *nvrProc) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
	if err != nil {
		return nil, err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	return http.DefaultClient.Do(req)
}

func startServe(t testing.TB, cfgPath, listen string) *nvrProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "nvr-log-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nvrBin, "serve", "-init", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nvrProc{t: t, cmd: cmd, base: "http://" + listen, log: logf, cfg: cfgPath, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("nvr log:\n%s", b)
		}
	})
	p.waitFor(15*time.Second, "API up", func() bool {
		resp, err := http.Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func (p *nvrProc) waitFor(d time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			p.t.Fatalf("nvr exited while waiting for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends sig and waits for the exit, returning its code.
func (p *nvrProc) stop(sig syscall.Signal, within time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("nvr did not exit within %s of %v", within, sig)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *nvrProc) getJSON(path string, v any) int {
	p.t.Helper()
	resp, err := p.get(path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			p.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type cameraJSON struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Segments  int64  `json:"segments"`
}

func (p *nvrProc) camera(id string) cameraJSON {
	var c cameraJSON
	if code := p.getJSON("/api/cameras/"+id, &c); code != 200 {
		p.t.Fatalf("GET camera %s: %d", id, code)
	}
	return c
}

func writeConfig(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkIndex verifies every segment of camera against its file (see
// segcheck.Index) and returns the segments.
func checkIndex(t *testing.T, dataDir, camera string) []storage.Segment {
	t.Helper()
	return segcheck.Index(t, dataDir, camera)
}

// ffprobeFrames decodes a file with ffmpeg and returns its frame count; any
// decode error fails the test.
func ffprobeFrames(t *testing.T, path string) int {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	out, err := exec.Command(ffmpeg, "-v", "error", "-xerror", "-i", path, "-map", "0:v:0", "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("ffmpeg decode of %s: %v\n%s", path, err, out)
	}
	ffprobe := needTool(t, "ffprobe")
	out, err = exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	if err != nil {
		t.Fatalf("ffprobe %s: %q", path, out)
	}
	return n
}

// probeDuration returns the container duration ffprobe reports (honouring
// the edit list).
func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	ffprobe := needTool(t, "ffprobe")
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q", out)
	}
	return d
}
