package recorder

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// TestPixelAspectReachesWriter (QUIRKS: anamorphic sub stream without
// aspect ratio in its SPS, Hikvision DS-2CD2032-I): the segment writer is
// given the ratio the picture is meant to be shown at, so the file carries
// it; a camera whose SPS signals square pixels gets square pixels.
func TestPixelAspectReachesWriter(t *testing.T) {
	// x264's SPS for 704x480 Main with no aspect_ratio_info in its VUI,
	// as the DS-2CD2032-I's sub stream sends it.
	ana, err := hex.DecodeString("674d401eeca0581ed0800000030080000019078b16cb")
	if err != nil {
		t.Fatal(err)
	}
	base := loadClip(t, testcam.ClipBase240)
	cases := []struct {
		name       string
		sps        []byte
		wantW      int
		sarW, sarH int
	}{
		{"704x480 unsignalled (Hikvision DS-2CD2032-I) is 10:11", ana, 704, 10, 11},
		{"320x240 signalled 1:1 stays square", base.SPS, 320, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
			s := newSegmenter(env.job.segmenterDeps())
			c := *base
			c.SPS = tc.sps // the fake writer does not decode the slices
			n, _ := feedClip(t, s, &c, 1, 0, t0)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			checkSegments(t, env, n)
			env.log.mu.Lock()
			params := env.log.params
			env.log.mu.Unlock()
			if len(params) != 1 {
				t.Fatalf("%d writers, want 1", len(params))
			}
			p := params[0]
			if p.Width != tc.wantW || p.SARWidth != tc.sarW || p.SARHeight != tc.sarH {
				t.Errorf("writer got %dx%d SAR %d:%d, want width %d SAR %d:%d",
					p.Width, p.Height, p.SARWidth, p.SARHeight, tc.wantW, tc.sarW, tc.sarH)
			}
		})
	}
}
