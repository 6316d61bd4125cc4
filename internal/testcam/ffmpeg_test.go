package testcam

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an external tool, skipping the test when it
// is missing, except under CI where its absence is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found and CI is set: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// frameHashes decodes n frames with ffmpeg and returns the hash of each
// decoded picture (framemd5's last column).
func frameHashes(t *testing.T, ffmpeg string, n string, input ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-nostdin", "-v", "error"}, input...)
	args = append(args, "-frames:v", n, "-f", "framemd5", "-")
	out, err := exec.CommandContext(ctx, ffmpeg, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr)
	}
	var hashes []string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		hashes = append(hashes, strings.TrimSpace(f[len(f)-1]))
	}
	return hashes
}

// TestFFmpegDecodes plays the stream with ffmpeg, a second independent
// client, over TCP and UDP with Digest auth, and checks that the decoded
// pictures are exactly those of the clip file decoded directly.
func TestFFmpegDecodes(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	want := frameHashes(t, ffmpeg, "60", "-i", "clips/"+ClipBase240+".h264")
	if len(want) != 50 {
		t.Fatalf("clip decoded to %d frames", len(want))
	}
	for _, tc := range []struct {
		name      string
		transport string
		o         Options
	}{
		{"tcp", "tcp", Options{}},
		{"tcp-digest-nosprop", "tcp", Options{Auth: AuthDigest, Username: testUser, Password: testPass, NoSprop: true}},
		{"udp-basic", "udp", Options{Auth: AuthBasic, Username: testUser, Password: testPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.o.Clip, tc.o.Speed = ClipBase240, 5
			s := startServer(t, tc.o)
			got := frameHashes(t, ffmpeg, "60", "-rtsp_transport", tc.transport, "-i", s.URL())
			if len(got) != 60 {
				t.Fatalf("ffmpeg decoded %d frames", len(got))
			}
			for i, h := range got {
				if h != want[i%len(want)] {
					t.Fatalf("frame %d: hash %s, want %s", i, h, want[i%len(want)])
				}
			}
		})
	}
}

// TestNumberedClip: ffmpeg decodes the numbered clip to pictures whose
// blocks read as 0, 1, 2, … in order, and a picture of another clip is
// refused rather than read as a number.
func TestNumberedClip(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	gray := func(clip string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-i", "clips/"+clip+".h264",
			"-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
		if err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
		return out
	}
	const w, h = 320, 240
	pics := gray(ClipNumbered240)
	if len(pics) != 100*w*h {
		t.Fatalf("%d bytes of pictures, want 100 of %dx%d", len(pics), w, h)
	}
	for i := range 100 {
		n, err := FrameNumber(pics[i*w*h:(i+1)*w*h], w)
		if err != nil || n != i {
			t.Fatalf("picture %d reads as %d (%v)", i, n, err)
		}
	}
	if n, err := FrameNumber(gray(ClipBase240)[:w*h], w); err == nil {
		t.Fatalf("a testsrc picture read as frame number %d", n)
	}
}
