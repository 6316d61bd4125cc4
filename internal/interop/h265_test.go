package interop

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// h265Clip is the test camera's libx265 clip (480x270 Main, 25 fps, closed
// 1 s GOPs, B-frames) as a clip for the gortsplib server, which sends it
// with mediacommon's RFC 7798 encoder: an implementation independent of
// nvr's depacketizer.
func h265Clip(t *testing.T) *clip {
	t.Helper()
	tc, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	c := &clip{Spec: clipSpec{Width: 480, Height: 270, FPS: 25, Keyint: 25}, H265: true, VPS: tc.VPS, SPS: tc.SPS, PPS: tc.PPS, Duration: tc.Duration}
	first := tc.Frames[0].DTS
	for _, f := range tc.Frames {
		c.AUs = append(c.AUs, accessUnit{PTS: f.PTS - first, DTS: f.DTS - first, NALUs: f.NALUs})
	}
	return c
}

// ffprobeStream is ffprobe's codec, tag and size of a file's video.
func ffprobeStream(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(needTool(t, "ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,codec_tag_string,width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// TestProbeH265: nvr probe reports the profile, tier, level, size, frame
// rate and GOP of an H.265 stream from gortsplib, with the parameter sets
// in the SDP and only in-band.
func TestProbeH265(t *testing.T) {
	c := h265Clip(t)
	for _, noSprop := range []bool{false, true} {
		t.Run(fmt.Sprintf("no sprop %v", noSprop), func(t *testing.T) {
			t.Parallel()
			url := startGort(t, c, gortOptions{Speed: 2, NoSprop: noSprop}).URL()
			out, errOut, err := runProbe(t, "-transport", "tcp", "-duration", "3s", url)
			if err != nil {
				t.Fatalf("nvr probe: %v: %s", err, errOut)
			}
			var res struct {
				probeJSON
				Tracks []struct {
					Codec, Profile, Tier, Level string
					Width, Height               int
				} `json:"tracks"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Tracks) != 1 {
				t.Fatalf("probe output (%v): %s", err, out)
			}
			tr := res.Tracks[0]
			if tr.Codec != "H265" || tr.Profile != "Main" || tr.Tier != "Main" || tr.Level != "2.1" || tr.Width != 480 || tr.Height != 270 {
				t.Errorf("track %+v, want H265 Main/Main/2.1 480x270", tr)
			}
			if math.Abs(res.FPS-25) > 0.2 || math.Abs(res.GOPS-1) > 0.04 || res.Lost != 0 {
				t.Errorf("fps %v gop %v lost %d, want 25, 1 s, 0", res.FPS, res.GOPS, res.Lost)
			}
		})
	}
}

// TestServeH265 records an H.265 camera (gortsplib over UDP, parameter sets
// only in-band) with nvr serve, then checks with ffprobe a segment file
// (hevc in hvc1, every frame decodes, the size) and an export across
// segments (checkExport: frames, times, sizes, decoding).
func TestServeH265(t *testing.T) {
	t.Parallel() // mostly waiting on a real-time stream
	needTool(t, "ffprobe")
	cam := startGort(t, h265Clip(t), gortOptions{NoSprop: true})
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "nvr.yaml")
	data := filepath.Join(dir, "data")
	cfg := fmt.Sprintf("data_dir: %s\nlisten: %s\nsegment_duration: 2s\ncameras:\n  - id: cam\n    url: '%s'\n    transport: udp\n", data, listen, cam.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfgPath, listen)
	p.waitFor(30*time.Second, "three complete segments", func() bool { return len(p.segments("cam")) >= 3 })
	segs := p.segments("cam")
	for _, s := range segs {
		if s.Width != 480 || s.Height != 270 || math.Abs(s.fps()-25) > 1 {
			t.Errorf("segment %s: %dx%d at %.1f fps", s.Start.Format(time.RFC3339Nano), s.Width, s.Height, s.fps())
		}
	}
	// The API names each segment's codecs: the one H.265 track.
	var list struct {
		Segments []struct {
			Codec  string   `json:"codec"`
			Codecs []string `json:"codecs"`
		} `json:"segments"`
	}
	p.getJSON("/api/cameras/cam/segments?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z", &list)
	for _, s := range list.Segments {
		if s.Codec != "hvc1.1.6.L63.90" || len(s.Codecs) != 1 || s.Codecs[0] != s.Codec {
			t.Errorf("segment codec %q codecs %q, want hvc1.1.6.L63.90 alone", s.Codec, s.Codecs)
		}
	}
	var files []string
	_ = filepath.Walk(data, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, ".mp4") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) < 3 {
		t.Fatalf("%d segment files", len(files))
	}
	if got := ffprobeStream(t, files[1]); got != "hevc,hvc1,480,270" {
		t.Errorf("segment %s: ffprobe %q, want hevc,hvc1,480,270", files[1], got)
	}
	ffmpegDecode(t, files[1])
	if n := len(ffprobeFrames(t, files[1])); n < 40 || n > 60 {
		t.Errorf("segment %s: %d frames decoded, want ~50 (2 s at 25 fps)", files[1], n)
	}
	mid := func(s apiSegment) time.Time { return s.Start.Add(s.End.Sub(s.Start) / 2) }
	checkExport(t, p, "cam", mid(segs[0]), mid(segs[2]), segs, dir)
}
