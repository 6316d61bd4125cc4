package export

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	mp4 "github.com/abema/go-mp4"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// TestExportPixelAspect: segments of an anamorphic camera (QUIRKS:
// Hikvision DS-2CD2032-I, 704x480 shown 4:3, no ratio in the SPS) carry a
// pasp box; the export keeps it in its sample entry, so players show the
// clip at the same shape as the segments. A change of ratio between
// segments is a change of sample entry, like an SPS change.
func TestExportPixelAspect(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	sq := fmp4.TrackParams{SPS: c.SPS, PPS: c.PPS}
	ana := fmp4.TrackParams{SPS: c.SPS, PPS: c.PPS, SARWidth: 10, SARHeight: 11}
	cases := []struct {
		name    string
		params  []fmp4.TrackParams
		entries [][2]uint32 // per sample entry: its pasp, {0, 0} for none
		ffprobe string      // sample_aspect_ratio of the stream
	}{
		{"anamorphic segments keep 10:11", []fmp4.TrackParams{ana, ana}, [][2]uint32{{10, 11}}, "10:11"},
		{"square segments have no pasp", []fmp4.TrackParams{sq, sq}, [][2]uint32{{0, 0}}, "1:1"},
		{"ratio changes between segments", []fmp4.TrackParams{ana, sq}, [][2]uint32{{10, 11}, {0, 0}}, "10:11"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var inputs []Input
			at := t0
			for _, tp := range tc.params {
				in := segmentWith(t, dir, c, at, tp)
				inputs = append(inputs, in)
				at = in.EndNS
			}
			clip, err := New(inputs, Options{StartNS: t0, EndNS: at})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "clip.mp4")
			b := saveClip(t, clip, out)
			checkBoxes(t, b)

			var got [][2]uint32
			_, err = mp4.ReadBoxStructure(bytes.NewReader(b), func(h *mp4.ReadHandle) (interface{}, error) {
				switch h.BoxInfo.Type {
				case mp4.BoxTypeMoov(), mp4.BoxTypeTrak(), mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(), mp4.BoxTypeStsd():
					return h.Expand()
				case mp4.BoxTypeAvc1():
					got = append(got, [2]uint32{})
					return h.Expand()
				case mp4.BoxTypePasp():
					box, _, err := h.ReadPayload()
					if err != nil {
						return nil, err
					}
					p := box.(*mp4.PixelAspectRatioBox)
					got[len(got)-1] = [2]uint32{p.HSpacing, p.VSpacing}
				}
				return nil, nil
			})
			if err != nil {
				t.Fatalf("go-mp4: %v", err)
			}
			if len(got) != len(tc.entries) {
				t.Fatalf("%d avc1 sample entries, want %d", len(got), len(tc.entries))
			}
			for i := range got {
				if got[i] != tc.entries[i] {
					t.Errorf("sample entry %d: pasp %v, want %v", i, got[i], tc.entries[i])
				}
			}

			fp := requireTool(t, "ffprobe")
			o, err := exec.Command(fp, "-v", "error", "-select_streams", "v:0",
				"-show_entries", "stream=sample_aspect_ratio", "-of", "csv=p=0", out).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			if s := strings.TrimSpace(string(o)); s != tc.ffprobe {
				t.Errorf("ffprobe sample_aspect_ratio %q, want %q", s, tc.ffprobe)
			}
			if p := ffprobe(t, out); p.frames != len(c.Frames)*len(tc.params) {
				t.Errorf("decoded %d frames, want %d", p.frames, len(c.Frames)*len(tc.params))
			}
		})
	}
}
