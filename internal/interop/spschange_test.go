package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeSPSChangeMidSession: a gortsplib server switches between a
// 640x360 29.97 fps High stream with B-frames and an 854x480 15 fps Main
// stream within one RTSP session (new SPS and PPS in-band, the SDP still
// naming the first), as cameras do when their encoding is reconfigured
// (MTX#4262). nvr must keep recording without a break, start a segment at
// each change, and export across the changes with each frame at its time.
func TestServeSPSChangeMidSession(t *testing.T) {
	t.Parallel() // mostly waiting on a real-time stream
	needTool(t, "ffprobe")
	a := clips.get(t, spec2997)
	b := clips.get(t, clipSpec{Width: 854, Height: 480, Rate: "15", FPS: 15, Keyint: 15, Profile: "main", Seconds: 3})
	cam := startGort(t, a, gortOptions{Then: b})

	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "nvr.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlisten: %s\nsegment_duration: 2s\ncameras:\n  - id: cam\n    url: '%s'\n    transport: udp\n",
		filepath.Join(dir, "data"), listen, cam.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfgPath, listen)
	// changes lists the indexes of segments whose size differs from the
	// previous segment's.
	changes := func(segs []apiSegment) []int {
		var out []int
		for i := 1; i < len(segs); i++ {
			if segs[i].Width != segs[i-1].Width || segs[i].Height != segs[i-1].Height {
				out = append(out, i)
			}
		}
		return out
	}
	p.waitFor(30*time.Second, "two size changes and a segment after them", func() bool {
		segs := p.segments("cam")
		ch := changes(segs)
		return len(ch) >= 2 && ch[1] < len(segs)-1
	})
	segs := p.segments("cam")
	ch := changes(segs)
	for _, s := range segs {
		if !(s.Width == 640 && s.Height == 360) && !(s.Width == 854 && s.Height == 480) {
			t.Errorf("segment %s..%s is %dx%d", s.Start.Format(time.RFC3339Nano), s.End.Format(time.RFC3339Nano), s.Width, s.Height)
		}
	}
	mid := func(s apiSegment) time.Time { return s.Start.Add(s.End.Sub(s.Start) / 2) }
	for k, i := range ch[:2] {
		t.Run(fmt.Sprintf("across change %d", k+1), func(t *testing.T) {
			checkExport(t, p, "cam", mid(segs[i-1]), mid(segs[i]), segs, dir)
		})
	}
	t.Run("across both changes", func(t *testing.T) {
		checkExport(t, p, "cam", mid(segs[ch[0]-1]), mid(segs[ch[1]]), segs, dir)
	})
	p.stop()
	checkIndex(t, filepath.Join(dir, "data"), "cam", nil, len(segs))
}
