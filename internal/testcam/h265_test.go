package testcam

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServesH265: the test camera serves its H.265 clip (RFC 7798 single
// NAL units and fragmentation units, parameter sets in the SDP), and ffmpeg,
// an independent depacketizer and decoder, plays every frame of it.
func TestServesH265(t *testing.T) {
	ffprobe := needTool(t, "ffprobe")
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			s, err := Start(Options{Clip: ClipHEVC270})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", transport, "-i", s.URL(),
				"-read_intervals", "%+3.5", "-select_streams", "v:0", "-count_frames",
				"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0").CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			f := strings.Split(strings.TrimSpace(string(out)), ",")
			if len(f) != 4 || f[0] != "hevc" || f[1] != "480" || f[2] != "270" {
				t.Fatalf("ffprobe: %q", out)
			}
			// 3.5 s at 25 fps, from the first keyframe.
			if n, _ := strconv.Atoi(f[3]); n < 60 {
				t.Fatalf("ffprobe decoded %d frames of 3.5 s", n)
			}
		})
	}
}
