package footage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

var t0 = time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC)

// recordSegment writes clip frames [from, to) as one segment starting at
// start; finish=false leaves it in state recording with its fragments on disk.
func recordSegment(t *testing.T, stor *storage.Store, clip *testcam.Clip, start time.Time, from, to int, finish bool) storage.Segment {
	t.Helper()
	ctx := context.Background()
	seg := storage.Segment{Camera: "cam", StartNS: start.UnixNano(), Codecs: "avc1.4d401f", Width: 1280, Height: 720}
	f, err := stor.CreateSegment(ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	defer f.Abandon()
	if seg, err = stor.Segment(ctx, id); err != nil {
		t.Fatal(err)
	}
	w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: clip.SPS, PPS: clip.PPS}, fmp4.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := clip.Frames[from].DTS
	for _, fr := range clip.Frames[from:to] {
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS - base, PTS: fr.PTS - base, Keyframe: fr.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	if !finish {
		// As the recorder does after each sync: the row says how much of
		// the file is synced.
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		st := w.Stats()
		seg.Bytes, seg.Frames, seg.Keyframes = st.Bytes, st.Frames, st.Keyframes
		seg.EndNS = seg.StartNS + (st.EndDTS-st.FirstDTS)*int64(time.Second)/90000
		if err := f.Update(ctx, seg); err != nil {
			t.Fatal(err)
		}
		return seg
	}
	end := int64(to-from) * 3600
	if err := w.Close(end); err != nil {
		t.Fatal(err)
	}
	seg.EndNS = seg.StartNS + end*int64(time.Second)/90000
	seg.Frames = int64(to - from)
	if err := f.Finish(ctx, seg); err != nil {
		t.Fatal(err)
	}
	return seg
}

// storeAndClip opens a new data dir (closed at the end of the test) and
// loads the test clip name.
func storeAndClip(t *testing.T, name string) (*storage.Store, *testcam.Clip) {
	t.Helper()
	st, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clip, err := testcam.LoadClip(name)
	if err != nil {
		t.Fatal(err)
	}
	return st, clip
}

func TestPlan(t *testing.T) {
	ctx := context.Background()
	st, clip := storeAndClip(t, testcam.ClipMain720)
	// Two abutting 2 s segments, a 10 s gap, a deleted segment, and one
	// still being recorded.
	s1 := recordSegment(t, st, clip, t0, 0, 50, true)
	s2 := recordSegment(t, st, clip, t0.Add(2*time.Second), 50, 100, true)
	gone := recordSegment(t, st, clip, t0.Add(14*time.Second), 0, 50, true)
	live := recordSegment(t, st, clip, t0.Add(20*time.Second), 0, 100, false)
	if err := os.Remove(filepath.Join(st.RecordingsDir(), filepath.FromSlash(gone.Path))); err != nil {
		t.Fatal(err)
	}
	e := New(st, nil)

	c, err := e.Plan(ctx, "cam", s1.StartNS+int64(500*time.Millisecond), live.StartNS+int64(2*time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.segs) != 3 {
		t.Errorf("clip reads %d files, want 3 (the deleted one skipped)", len(c.segs))
	}
	// 3.5 s of the first run + 2 s of the live segment (all of it complete
	// after Flush but the held-back last frame).
	if d := c.Duration(); d != 5*90000+45000 {
		t.Errorf("duration %d ticks, want %d", d, 5*90000+45000)
	}
	gaps := c.Gaps()
	if len(gaps) != 1 || gaps[0].StartNS != s2.EndNS || gaps[0].EndNS != live.StartNS {
		t.Errorf("gaps %+v, want one from %d to %d", gaps, s2.EndNS, live.StartNS)
	}
	data, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil || int64(len(data)) != c.Size() {
		t.Fatalf("read %d of %d bytes: %v", len(data), c.Size(), err)
	}
	if string(data[4:8]) != "ftyp" {
		t.Errorf("clip starts with %q", data[4:8])
	}

	// A range with nothing in it.
	if _, err := e.Export(ctx, "cam", t0.Add(-time.Hour).UnixNano(), t0.Add(-time.Minute).UnixNano(), false); !errors.Is(err, ErrNoFootage) {
		t.Errorf("empty range: %v, want ErrNoFootage", err)
	}
	if _, err := e.Export(ctx, "other", t0.UnixNano(), t0.Add(time.Hour).UnixNano(), false); !errors.Is(err, ErrNoFootage) {
		t.Errorf("unknown camera: %v, want ErrNoFootage", err)
	}
	// Only the deleted segment overlaps: no footage, not an error.
	if _, err := e.Export(ctx, "cam", gone.StartNS, gone.EndNS, false); !errors.Is(err, ErrNoFootage) {
		t.Errorf("deleted segment: %v, want ErrNoFootage", err)
	}
	// Cancelled before planning.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Export(cctx, "cam", s1.StartNS, s2.EndNS, false); err == nil {
		t.Errorf("cancelled context: no error")
	}
}
