package recorder

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// TestKillAtEveryFrame (RELIABILITY F9, "kill-9 ×1000"): a kill -9 keeps
// what the process had written (it sits in the page cache), and a kill in
// the middle of a fragment's Write leaves part of it. This records 1000
// frames with the real segment writer and, after every frame, "kills" the
// process twice: once as the file is, once torn at a random point of the
// write that frame caused. Each of the 2000 files must scan to whole
// fragments only, with every sample intact and in order, and lose at most
// the fragment in progress plus the frame the writer holds back.
func TestKillAtEveryFrame(t *testing.T) {
	const kills = 1000
	c := loadClip(t, testcam.ClipBase240) // 50 frames, 25 fps, small
	env := realEnv(t, Config{SegmentDuration: time.Hour, FsyncInterval: time.Hour})
	s := newSegmenter(env.job.segmenterDeps())
	ps := clipParams(t, c)
	fragment := framesPerFragment()
	r := rand.New(rand.NewPCG(9, 9))

	sizeOf := func(f testcam.Frame) uint32 {
		n := 0
		for _, u := range f.NALUs {
			n += 4 + len(u)
		}
		return uint32(n)
	}
	check := func(handled int, b []byte, how string) {
		t.Helper()
		info, err := fmp4.Scan(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if handled <= fragment+1 {
				return // nothing but (part of) the init segment yet
			}
			t.Fatalf("kill after %d frames (%s): %v", handled, how, err)
		}
		if info.ValidSize > int64(len(b)) {
			t.Fatalf("kill after %d frames (%s): valid %d of %d bytes", handled, how, info.ValidSize, len(b))
		}
		if lost := handled - len(info.Samples); lost < 0 || lost > fragment+1 {
			t.Fatalf("kill after %d frames (%s): file holds %d frames, lost %d (at most %d)", handled, how, len(info.Samples), lost, fragment+1)
		}
		for j, smp := range info.Samples {
			f := c.Frames[j%len(c.Frames)]
			if smp.Size != sizeOf(f) || smp.Keyframe != f.Keyframe || smp.DTS-info.Samples[0].DTS != int64(j)*3600 {
				t.Fatalf("kill after %d frames (%s): sample %d is %+v, not frame %d", handled, how, j, smp, j)
			}
		}
	}

	var prev []byte
	for i := range kills {
		loop, k := i/len(c.Frames), i%len(c.Frames)
		f := c.Frames[k]
		off := int64(loop) * c.Duration
		if err := s.handle(item(f, ps, off, t0.Add(time.Duration(ticks.ToNS(f.DTS+off))))); err != nil {
			t.Fatal(err)
		}
		cur, err := os.ReadFile(env.store.path(1))
		if err != nil {
			t.Fatal(err)
		}
		check(i+1, cur, "as written")
		if len(cur) > len(prev) {
			cut := len(prev) + r.IntN(len(cur)-len(prev))
			check(i+1, cur[:cut], "torn mid-write")
		}
		prev = cur
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	if rows := env.store.segments(); len(rows) != 1 || rows[0].Frames != kills {
		t.Fatalf("rows %+v, want one segment of %d frames", rows, kills)
	}
}
