package fmp4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
)

// requireTool skips when an external tool is missing, except under CI
// where a missing tool is a broken environment.
func requireTool(t testing.TB, name string) string { return testaudio.Tool(t, name) }

// ffmpegDecode decodes every frame of path and fails on any decoder message
// at level error.
func ffmpegDecode(t testing.TB, path string) {
	t.Helper()
	ff := requireTool(t, "ffmpeg")
	out, err := exec.Command(ff, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of %s: err=%v output:\n%s", filepath.Base(path), err, out)
	}
}

// ffprobeFrames decodes every frame with ffprobe -count_frames and returns
// how many there were; any message at level error (a decode error) fails.
func ffprobeFrames(t testing.TB, path string) int {
	t.Helper()
	fp := requireTool(t, "ffprobe")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(fp, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	n, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("ffprobe %s: frame count %q: %v", path, stdout.String(), err)
	}
	return n
}

func loadClip(t testing.TB, name string) *testcam.Clip {
	t.Helper()
	c, err := testcam.LoadClip(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// frameDuration is the clips' frame interval (25 fps).
const frameDuration = 3600

// writeClip writes every frame of c as one segment and returns its bytes.
func writeClip(t testing.TB, c *testcam.Clip, opts WriterOptions) ([]byte, WriterStats) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, TrackParams{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range c.Frames {
		if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe}); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	last := c.Frames[len(c.Frames)-1]
	if err := w.Close(last.DTS + frameDuration); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleSize is the AVCC size of a frame: 4-byte length per NAL unit.
func sampleSize(f testcam.Frame) uint32 {
	n := 0
	for _, nalu := range f.NALUs {
		n += 4 + len(nalu)
	}
	return uint32(n)
}
