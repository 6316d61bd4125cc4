package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// runBin runs the built nvr binary with args (and extra environment) and
// returns its exit code, stdout and stderr. It fails the test if nvr does
// not exit within a minute.
func runBin(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nvrBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("nvr %v did not exit within a minute", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// Help that was asked for goes to stdout with exit 0; mistakes go to
// stderr with exit 2 and name what is missing.
func TestCLIHelpVersionAndUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "serve"}, {"serve", "-h"}, {"export", "--help"}, {"help", "check"}} {
		code, out, errOut := runBin(t, nil, args...)
		if code != 0 || !strings.Contains(out, "usage: nvr") || errOut != "" {
			t.Errorf("nvr %v: exit %d, stdout %.80q, stderr %q; want usage on stdout, exit 0", args, code, out, errOut)
		}
	}
	if _, out, _ := runBin(t, nil, "help", "serve"); !strings.Contains(out, "-config") || !strings.Contains(out, "-init") {
		t.Errorf("nvr help serve shows no flags: %s", out)
	}
	code, v1, _ := runBin(t, nil, "version")
	_, v2, _ := runBin(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(v1, "nvr ") || v1 != v2 || strings.Count(v1, "\n") != 1 {
		t.Errorf("version: exit %d, %q and %q", code, v1, v2)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: nvr"},
		{[]string{"serve", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"export", "-config", "x.yaml"}, "-camera is required"},
		{[]string{"export", "-camera", "a", "-start", "2026-11-25T08:00:00Z", "-end", "2026-11-25T09:00:00Z"}, "-o is required"},
		{[]string{"probe"}, "a camera URL is required"},
		{[]string{"nope"}, `unknown command "nope"`},
	} {
		code, out, errOut := runBin(t, nil, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("nvr %v: exit %d, stdout %q, stderr %q; want exit 2 and %q on stderr", tc.args, code, out, errOut, tc.want)
		}
	}
}

// newDataDir makes an initialised data dir, as nvr serve -init leaves it.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return dir
}

func TestCLICheck(t *testing.T) {
	dir := t.TempDir()
	data := newDataDir(t)
	good := filepath.Join(dir, "good.yaml")
	writeConfig(t, good, "data_dir: "+data+"\ncameras:\n  - id: a\n    url: rtsp://192.0.2.1/x\n    username: admin\n    password: ${PW}\n")
	env := []string{"PW=S3cr@t#1"}
	if code, out, errOut := runBin(t, env, "check", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("good config: exit %d, %q %q", code, out, errOut)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml string
		args       []string
		want       []string
	}{
		{"hash in url password", "data_dir: " + data + "\ncameras:\n  - id: a\n    url: rtsp://admin:${PW}@127.0.0.1:18810/cam\n", nil,
			[]string{"line 4: cameras[0].url:", "'#'", "%23", "username and password fields"}},
		{"tab", "data_dir: " + data + "\ncameras:\n\t- id: a\n", nil, []string{"tabs are not allowed for indentation (line 3)"}},
		{"missing data dir", "data_dir: " + filepath.Join(dir, "nope") + "\n", nil, []string{"does not exist", "-init"}},
		{"empty data dir", "data_dir: " + empty + "\n", nil, []string{"is empty", "-init"}},
		{"missing sdp file", "data_dir: " + data + "\ncameras:\n  - id: a\n    url: rtsp://h/\n    sdp: " + filepath.Join(dir, "cam.sdp") + "\n", nil, []string{"camera a: sdp:", "no such file"}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
		writeConfig(t, path, tc.yaml)
		code, out, errOut := runBin(t, env, append([]string{"check", "-config", path}, tc.args...)...)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing on stdout", tc.name, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q lacks %q", tc.name, errOut, w)
			}
		}
		if strings.Contains(errOut, "S3cr") {
			t.Errorf("%s: password shown: %s", tc.name, errOut)
		}
	}
	// -skip-data-dir checks the file alone, for CI on another machine.
	missing := filepath.Join(dir, "missing-data-dir.yaml")
	if code, _, errOut := runBin(t, env, "check", "-skip-data-dir", "-config", missing); code != 0 {
		t.Errorf("-skip-data-dir: exit %d: %s", code, errOut)
	}
}

// A '#' in a password typed into the URL is refused by probe too, before
// any connection, with the hint.
func TestProbeRefusesCutUserinfo(t *testing.T) {
	code, out, errOut := runBin(t, nil, "probe", "rtsp://admin:p@ss#w0rd@127.0.0.1:9/x")
	if code != 1 || out != "" || !strings.Contains(errOut, "'#'") || !strings.Contains(errOut, "%23") || strings.Contains(errOut, "w0rd") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// probe pointed at a web server says so, whether it answers with a status
// line (Go's net/http) or with a bare page (Python's http.server).
func TestProbeHTTPServer(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("<!DOCTYPE HTML>\n<html><body>Error code 400. Bad request version ('RTSP/1.0').</body></html>\n"))
			c.Close()
		}
	}()
	for _, addr := range []string{strings.TrimPrefix(web.URL, "http://"), ln.Addr().String()} {
		code, out, errOut := runBin(t, nil, "probe", "-timeout", "5s", "rtsp://"+addr+"/cam")
		if code != 1 || out != "" || !strings.Contains(errOut, "the server answered HTTP, not RTSP") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", addr, code, out, errOut)
		}
	}
}

func TestDemoListenBeyondLoopback(t *testing.T) {
	code, _, errOut := runBin(t, nil, "demo", "-data", t.TempDir(), "-listen", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, "loopback") || strings.Contains(errOut, "line ") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// A config that is a FIFO is refused at once instead of waiting for a
// writer forever.
func TestServeRefusesFIFOConfig(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "nvr.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "check", "export"} {
		args := []string{cmd, "-config", fifo}
		if cmd == "export" {
			args = append(args, "-camera", "a", "-start", "2026-11-25T08:00:00Z", "-end", "2026-11-25T09:00:00Z", "-o", "-")
		}
		code, _, errOut := runBin(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, "is not a regular file (a named pipe)") {
			t.Errorf("nvr %s: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}

// SIGINT ends a command that is waiting on the network at once.
func TestInterruptEndsProbe(t *testing.T) {
	silent := startCam(t, testcam.Options{Response: testcam.ResponseSilent})
	cmd := exec.Command(nvrBin, "probe", "-timeout", "1m", silent.URL())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	time.Sleep(500 * time.Millisecond) // let it connect and wait
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatal("nvr probe still running 10 s after SIGINT")
	}
}

// exportFixture is a config with two cameras and an initialised, empty data
// dir: enough for what nvr export checks before it reads footage.
func exportFixture(t *testing.T) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "nvr.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf("data_dir: %s\ntimezone: Europe/Berlin\ncameras:\n  - id: front\n    url: rtsp://192.0.2.1/x\n  - id: back\n    url: rtsp://192.0.2.2/x\n", newDataDir(t)))
	return cfgPath, dir
}

func TestExportChecksBeforeWork(t *testing.T) {
	cfgPath, dir := exportFixture(t)
	existing := filepath.Join(dir, "clip.mp4")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"export", "-config", cfgPath, "-start", "2026-11-25 08:00", "-end", "2026-11-25T08:10:00+01:00"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown camera", []string{"-camera", "nope", "-o", filepath.Join(dir, "x.mp4")}, `camera "nope" is not in the config; its cameras are: front, back`},
		{"existing file", []string{"-camera", "front", "-o", existing}, "exists; give -f to overwrite it"},
		{"missing directory", []string{"-camera", "front", "-o", filepath.Join(dir, "no", "such", "x.mp4")}, "directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{"time word", []string{"-camera", "front", "-start", "yesterday", "-o", filepath.Join(dir, "y.mp4")}, `-start "yesterday" is not a time: give RFC 3339 with a zone, e.g. 2026-11-25T08:00:00Z`},
	} {
		code, out, errOut := runBin(t, nil, append(base, tc.args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", tc.name, code, out, errOut, tc.want)
		}
		if strings.Contains(errOut, ".nvr-export-") {
			t.Errorf("%s: the error names the temporary file: %s", tc.name, errOut)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}
	// With the output accepted and the local times read in Europe/Berlin
	// (08:00 there is 08:10+01:00 minus ten minutes), the camera has
	// nothing recorded: that is the error, and no file is left behind.
	code, _, errOut := runBin(t, nil, append(base, "-camera", "front", "-o", dir)...)
	if code != 1 || !strings.Contains(errOut, "no footage") {
		t.Errorf("empty range: exit %d, stderr %q", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".nvr-export-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestDeployConfigs: the configs docker-compose.yml mounts pass nvr check
// with the environment compose gives them (the file alone: their data_dir
// is the container's).
func TestDeployConfigs(t *testing.T) {
	env := []string{"NVR_API_TOKEN=deploy-token-0123456789", "FRONT_DOOR_PASSWORD=pw", "NVR_NODE=node-a",
		"PGPASSWORD=pg-secret", "S3_ACCESS_KEY_ID=nvr-access", "S3_SECRET_ACCESS_KEY=nvr-secret"}
	for _, f := range []string{"nvr.yaml", "nvr-cluster.yaml"} {
		path := filepath.Join("..", "..", "deploy", f)
		if code, out, errOut := runBin(t, env, "check", "-skip-data-dir", "-config", path); code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%s: exit %d, %q %q", f, code, out, errOut)
		}
	}
}

// TestCLICheckServers: nvr check connects to index.postgres and asks
// storage.s3's bucket, creating nothing; a database that refuses or a
// wrong key is a problem named by its field, with no secret shown.
func TestCLICheckServers(t *testing.T) {
	pg := pgtest.URL(t)
	srv := s3test.Shared(t)
	_, bcfg := s3test.Bucket(t)
	dir := t.TempDir()
	data := newDataDir(t)
	write := func(name, pgURL string) string {
		p := filepath.Join(dir, name+".yaml")
		writeConfig(t, p, fmt.Sprintf("data_dir: %s\nnode: n1\nindex:\n  postgres: %q\nstorage:\n  s3:\n    endpoint: %s\n    bucket: %s\n",
			data, pgURL, srv.Endpoint, bcfg.Bucket))
		return p
	}
	keys := []string{"S3_ACCESS_KEY_ID=" + srv.Access, "S3_SECRET_ACCESS_KEY=" + srv.Secret}
	good := write("good", pg)
	if code, out, errOut := runBin(t, keys, "check", "-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("reachable servers: exit %d, %q %q", code, out, errOut)
	}
	// A port nothing listens on, with a password in the URL.
	const pw = "Pg-S3cr3t-pw"
	bad := write("bad", "postgres://nvr:"+pw+"@"+freeAddr(t)+"/nvr?connect_timeout=3")
	const wrongSecret = "wrong-secret-key-0123456789"
	wrongKey := []string{"S3_ACCESS_KEY_ID=" + srv.Access, "S3_SECRET_ACCESS_KEY=" + wrongSecret}
	code, out, errOut := runBin(t, wrongKey, "check", "-config", bad)
	if code != 1 || out != "" {
		t.Errorf("unreachable servers: exit %d, stdout %q; want 1 and nothing on stdout", code, out)
	}
	for _, w := range []string{"index.postgres:", "cannot connect", "storage.s3:"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
	if strings.Contains(errOut, pw) || strings.Contains(errOut, wrongSecret) {
		t.Errorf("a secret is shown: %s", errOut)
	}
	// -skip-data-dir leaves the servers alone too.
	if code, _, errOut := runBin(t, wrongKey, "check", "-skip-data-dir", "-config", bad); code != 0 {
		t.Errorf("-skip-data-dir: exit %d: %s", code, errOut)
	}
}
