package h265ps

import (
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
)

// The clip's SPS as x265 wrote it: 480x270 is coded 480x272 with a
// conformance window, Main profile, Main tier, level 2.1, 3 B-frames
// (reorder depth 2 with b-pyramid), 25 fps.
func TestParseSPSClip(t *testing.T) {
	c, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSPS(c.SPS)
	if err != nil {
		t.Fatal(err)
	}
	if s.Width != 480 || s.Height != 270 {
		t.Errorf("size %dx%d, want 480x270", s.Width, s.Height)
	}
	if s.Profile() != "Main" || s.Tier() != "Main" || s.Level() != "2.1" || s.LevelIDC() != 63 {
		t.Errorf("profile %q tier %q level %q (%d)", s.Profile(), s.Tier(), s.Level(), s.LevelIDC())
	}
	if s.ChromaFormatIDC != 1 || s.BitDepthLumaMinus8 != 0 || s.BitDepthChromaMinus8 != 0 {
		t.Errorf("chroma %d depths %d/%d", s.ChromaFormatIDC, s.BitDepthLumaMinus8, s.BitDepthChromaMinus8)
	}
	if s.MaxNumReorder < 1 {
		t.Errorf("reorder depth %d, want B-frames", s.MaxNumReorder)
	}
	if s.FPS() != 25 || s.FrameTicks() != 3600 {
		t.Errorf("fps %v, frame %d ticks", s.FPS(), s.FrameTicks())
	}
	if got := s.Codec(); got != "hvc1.1.6.L63.90" {
		t.Errorf("codec %q", got)
	}
}

func TestCodecOfPTL(t *testing.T) {
	cases := []struct {
		ptl  [12]byte
		want string
	}{
		// Main, compat 1 and 2, level 3.1, progressive+interlaced-unknown+
		// non-packed+frame-only: ISO/IEC 14496-15 E.3's first example.
		{[12]byte{0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93}, "hvc1.1.6.L93.B0"},
		// Main 10, high tier, level 5.1, no constraint bytes.
		{[12]byte{0x22, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 153}, "hvc1.2.4.H153"},
		// Profile space 1 (A), RExt with a constraint byte after zeros.
		{[12]byte{0x44, 0x08, 0, 0, 0, 0x90, 0, 0x01, 0, 0, 0, 120}, "hvc1.A4.10.L120.90.0.1"},
	}
	for _, c := range cases {
		if got := CodecOfPTL(c.ptl); got != c.want {
			t.Errorf("CodecOfPTL(%x) = %q, want %q", c.ptl, got, c.want)
		}
	}
}

func TestParseSPSRejects(t *testing.T) {
	c, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       nil,
		"header only": c.SPS[:2],
		"not an SPS":  c.PPS,
		"truncated":   c.SPS[:16],
		"one byte":    c.SPS[:1],
	}
	for name, b := range cases {
		if _, err := ParseSPS(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
