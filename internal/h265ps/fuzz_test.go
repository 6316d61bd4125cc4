package h265ps

import (
	"encoding/hex"
	"testing"
)

// FuzzParseSPS checks that no SPS makes the parser panic or hand out a size
// or codec string outside its bounds.
func FuzzParseSPS(f *testing.F) {
	for _, h := range []string{
		"42010101600000030090000003000003003fa00f080447d6595964932bc05a020000030002000003003210", // libx265 480x270, B-frames
		"42010101600000030090000003000003003ca00a080b9f7964a924caf0168080000003008000000f04",     // libx265 320x180
		"4201",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(b)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > MaxPictureSide || s.Height > MaxPictureSide {
			t.Fatalf("size %dx%d", s.Width, s.Height)
		}
		if s.MaxNumReorder < 0 || s.FrameTicks() < 0 || s.FrameTicks() > 90000 {
			t.Fatalf("reorder %d, frame %d ticks", s.MaxNumReorder, s.FrameTicks())
		}
		if c := s.Codec(); len(c) < len("hvc1.0.0.L0") || len(c) > 64 {
			t.Fatalf("codec %q", c)
		}
		_ = s.Profile() + s.Tier() + s.Level()
	})
}
