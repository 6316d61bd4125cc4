package interop

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gstReadyTimeout bounds the wait for the GStreamer server's READY line:
// loading GStreamer's plugins takes about a second on a cold cache.
const gstReadyTimeout = 20 * time.Second

// gstOptions configure testdata/gst_rtsp_server.py.
type gstOptions struct {
	Port           int // 0 picks one
	Width, Height  int
	FPS            int
	Keyint         int
	BFrames        int
	Profile        string // x264enc output profile: baseline, main, high
	Auth           string // none, basic, digest
	User, Password string
	Audio          string // none (default), aac, aac-latm, pcmu, pcma, opus
	Clip           string // a Matroska file (H.264 + PCM) served instead of test sources
}

// gstServer is a running GStreamer RTSP server process serving
// rtsp://127.0.0.1:port/stream.
type gstServer struct {
	opts   gstOptions
	cmd    *exec.Cmd
	exited chan struct{}
}

// needGst skips (or fails in CI) unless python3 with GStreamer's RTSP
// server, x264enc and rtph264pay are installed.
func needGst(t testing.TB) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = needTool(t, "python3")
	}
	check := `import gi; gi.require_version("Gst","1.0"); gi.require_version("GstRtspServer","1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
for e in ("videotestsrc","x264enc","rtph264pay"):
    assert Gst.ElementFactory.find(e), e`
	if out, err := exec.Command(py, "-c", check).CombinedOutput(); err != nil {
		missing(t, fmt.Sprintf("GStreamer RTSP server for python3: %v %s", err, lastLine(string(out))))
	}
	return py
}

func startGst(t testing.TB, o gstOptions) *gstServer {
	t.Helper()
	py := needGst(t)
	if o.Port == 0 {
		o.Port = freePort(t)
	}
	if o.Auth == "" {
		o.Auth = "none"
	}
	if o.Profile == "" {
		o.Profile = "main"
	}
	if o.Audio == "" {
		o.Audio = "none"
	}
	cmd := exec.Command(py, "testdata/gst_rtsp_server.py",
		"--port", fmt.Sprint(o.Port), "--width", fmt.Sprint(o.Width), "--height", fmt.Sprint(o.Height),
		"--fps", fmt.Sprintf("%d/1", o.FPS), "--keyint", fmt.Sprint(o.Keyint), "--bframes", fmt.Sprint(o.BFrames),
		"--profile", o.Profile, "--auth", o.Auth, "--user", o.User, "--password", o.Password, "--audio", o.Audio, "--clip", o.Clip)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gstServer{opts: o, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "READY"
		ready <- ok
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(g.Kill)
	select {
	case ok := <-ready:
		if !ok {
			g.Kill()
			t.Fatalf("GStreamer RTSP server did not start: %s", stderr.String())
		}
	case <-time.After(gstReadyTimeout):
		g.Kill()
		t.Fatalf("GStreamer RTSP server not ready within %s", gstReadyTimeout)
	}
	return g
}

// URL is the stream's address with the configured credentials.
func (g *gstServer) URL() string {
	return rtspURL(g.opts.Port, "stream", g.opts.User, g.opts.Password)
}

// Kill ends the server abruptly, as a camera losing power would, and waits
// for the process.
func (g *gstServer) Kill() {
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
