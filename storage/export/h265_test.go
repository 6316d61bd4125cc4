package export

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// An export of H.265 segments is hvc1 that ffmpeg decodes without an error:
// whole segments, a range starting mid-GOP (the edit list hides the frames
// decoded before the start, as for H.264) and B-frames, with the codec, tag
// and size ffprobe reports.
func TestExportH265(t *testing.T) {
	hevc := loadClip(t, testcam.ClipHEVC270) // 4 s, GOP 1 s, B-frames
	sec := int64(time.Second)
	cases := []struct {
		name       string
		start, end int64
		wantSec    float64
	}{
		{"two segments whole", 0, 8 * sec, 8},
		{"mid-GOP start, mid-segment end", 1300 * int64(time.Millisecond), 6500 * int64(time.Millisecond), 5.2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := segment(t, dir, hevc, t0)
			b := segment(t, dir, hevc, a.EndNS)
			clip, err := New([]Input{a, b}, Options{StartNS: t0 + tc.start, EndNS: t0 + tc.end})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "clip.mp4")
			bs := saveClip(t, clip, out)
			checkBoxes(t, bs)
			ffmpegDecode(t, out)
			p := ffprobe(t, out)
			if abs(p.duration-tc.wantSec) > 0.04+1e-9 {
				t.Errorf("ffprobe duration %.3f s, want %.3f", p.duration, tc.wantSec)
			}
			if want := int(tc.wantSec*25 + 0.5); p.frames < want-1 || p.frames > want+1 {
				t.Errorf("ffprobe decoded %d frames, want %d ± 1", p.frames, want)
			}
			if !strings.HasPrefix(p.firstFlags, "K") {
				t.Errorf("first packet flags %q, want a keyframe", p.firstFlags)
			}
			fp := requireTool(t, "ffprobe")
			info, err := exec.Command(fp, "-v", "error", "-select_streams", "v:0", "-show_entries",
				"stream=codec_name,codec_tag_string,width,height", "-of", "csv=p=0", out).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(info)); got != "hevc,hvc1,480,270" {
				t.Errorf("ffprobe stream %q, want hevc,hvc1,480,270", got)
			}
		})
	}
}
