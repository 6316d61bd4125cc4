package fmp4

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	mp4 "github.com/abema/go-mp4"

	"github.com/nvr-project/nvr/internal/testcam"
)

// TestWriterPixelAspect: the pixel aspect ratio of an anamorphic camera
// (QUIRKS: Hikvision DS-2CD2032-I's 704x480 sub stream, no ratio in its
// SPS) goes into a pasp box that Scan reads back and ffprobe honours;
// square pixels write no box, so ordinary segments are unchanged.
func TestWriterPixelAspect(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	cases := []struct {
		name       string
		sarW, sarH int
		wantBox    bool
		ffprobe    string // sample_aspect_ratio ffprobe must report
	}{
		{"Hikvision DS-2CD2032-I 704x480 sub stream, 10:11", 10, 11, true, "10:11"},
		{"704x576 PAL sub stream, 12:11", 12, 11, true, "12:11"},
		{"square pixels 1:1 write no box", 1, 1, false, "1:1"},
		{"unset writes no box", 0, 0, false, "1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS, SARWidth: tc.sarW, SARHeight: tc.sarH}, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range c.Frames {
				if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(c.Frames[len(c.Frames)-1].DTS + frameDuration); err != nil {
				t.Fatal(err)
			}
			file := buf.Bytes()

			boxes := find(parseTree(t, file), "moov/trak/mdia/minf/stbl/stsd/avc1/pasp")
			if got := len(boxes) == 1; got != tc.wantBox {
				t.Fatalf("pasp boxes: %d, want box %v", len(boxes), tc.wantBox)
			}
			if tc.wantBox {
				p := boxes[0].(*mp4.PixelAspectRatioBox)
				if int(p.HSpacing) != tc.sarW || int(p.VSpacing) != tc.sarH {
					t.Errorf("pasp %d:%d, want %d:%d", p.HSpacing, p.VSpacing, tc.sarW, tc.sarH)
				}
			}

			info, err := Scan(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			wantW, wantH := 0, 0
			if tc.wantBox {
				wantW, wantH = tc.sarW, tc.sarH
			}
			if info.Params.SARWidth != wantW || info.Params.SARHeight != wantH {
				t.Errorf("Scan: SAR %d:%d, want %d:%d", info.Params.SARWidth, info.Params.SARHeight, wantW, wantH)
			}

			path := writeFile(t, t.TempDir(), "seg.mp4", file)
			fp := requireTool(t, "ffprobe")
			out, err := exec.Command(fp, "-v", "error", "-select_streams", "v:0",
				"-show_entries", "stream=sample_aspect_ratio", "-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.ffprobe {
				t.Errorf("ffprobe sample_aspect_ratio %q, want %q", got, tc.ffprobe)
			}
		})
	}
}

// A pixel aspect ratio no SPS could carry (16-bit terms) or a negative one
// is refused like any other bad track parameter.
func TestWriterPixelAspectInvalid(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	for _, sar := range [][2]int{{-1, 1}, {1, -1}, {70000, 1}, {1, 1 << 16}} {
		_, err := NewWriter(io.Discard, TrackParams{SPS: c.SPS, PPS: c.PPS, SARWidth: sar[0], SARHeight: sar[1]}, WriterOptions{})
		if !errors.Is(err, ErrBadParams) {
			t.Errorf("SAR %d:%d: err %v, want ErrBadParams", sar[0], sar[1], err)
		}
	}
}
