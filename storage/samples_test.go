package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// writeSegment writes clip as a segment of camera "cam" starting at
// start and leaves it recording (flushed, file open) or finished.
func writeSegment(t *testing.T, s *storage.Store, clip *testcam.Clip, start time.Time, finish bool) storage.Segment {
	t.Helper()
	ctx := context.Background()
	f, err := s.CreateSegment(ctx, storage.Segment{Camera: "cam", StartNS: start.UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	defer f.Abandon()
	w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: clip.SPS, PPS: clip.PPS}, fmp4.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range clip.Frames {
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS, PTS: fr.PTS, Keyframe: fr.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	end := clip.Frames[len(clip.Frames)-1].DTS + 3600
	if finish {
		if err := w.Close(end); err != nil {
			t.Fatal(err)
		}
		st := w.Stats()
		seg := storage.Segment{ID: id, EndNS: start.UnixNano() + end*1e9/90_000, Frames: st.Frames, Keyframes: st.Keyframes}
		if err := f.Finish(ctx, seg); err != nil {
			t.Fatal(err)
		}
	} else if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	seg, err := s.Segment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// scanFile scans a segment's file as it is on disk.
func scanFile(t *testing.T, s *storage.Store, seg storage.Segment) *fmp4.SegmentInfo {
	t.Helper()
	f, err := s.OpenSegmentFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := fmp4.Scan(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestSampleIndexLifecycle: FinishSegment and Recover store the sample
// index of the file they synced, equal to a scan of that file; a segment
// still recording has none; deleting a segment deletes its index.
func TestSampleIndexLifecycle(t *testing.T) { storage.EachBackend(t, testSampleIndexLifecycle) }

func testSampleIndexLifecycle(t *testing.T, be storage.Backend) {
	o := be.Options(t)
	ctx := context.Background()
	clip, err := testcam.LoadClip(testcam.ClipHigh360BFrame)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := storage.OpenWithOptions(ctx, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	done := writeSegment(t, s, clip, t0, true)
	live := writeSegment(t, s, clip, t0.Add(10*time.Second), false)
	all := [2]int64{t0.UnixNano(), t0.Add(time.Hour).UnixNano()}

	idx, err := s.SampleIndexes(ctx, "cam", all[0], all[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 1 || idx[done.ID] == nil {
		t.Fatalf("sample indexes for ids %v; want only the finished segment %d", keys(idx), done.ID)
	}
	got, err := fmp4.ParseIndex(idx[done.ID])
	if err != nil {
		t.Fatal(err)
	}
	if want := scanFile(t, s, done); !reflect.DeepEqual(got, want) {
		t.Errorf("stored index differs from a scan of the file")
	}

	// A restart finalises the recording segment: it gets its index.
	s.Close()
	if s, err = storage.OpenWithOptions(ctx, dir, o); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recover(ctx, recoverFMP4); err != nil {
		t.Fatal(err)
	}
	if idx, err = s.SampleIndexes(ctx, "cam", all[0], all[1]); err != nil || len(idx) != 2 {
		t.Fatalf("after recovery: indexes for %v (%v); want both segments", keys(idx), err)
	}
	live, _ = s.Segment(ctx, live.ID)
	got, err = fmp4.ParseIndex(idx[live.ID])
	if err != nil {
		t.Fatal(err)
	}
	if want := scanFile(t, s, live); !reflect.DeepEqual(got, want) {
		t.Errorf("recovered segment: stored index differs from a scan of the file")
	}

	// PutSampleIndex fills a missing one and refuses garbage.
	if err := s.PutSampleIndex(ctx, done.ID, []byte{1, 2, 3}); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("PutSampleIndex(garbage): %v, want ErrInvalid", err)
	}
	if err := s.PutSampleIndex(ctx, 9999, idx[done.ID]); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("PutSampleIndex(unknown id): %v, want ErrNotFound", err)
	}

	if err := s.DeleteSegment(ctx, done.ID); err != nil {
		t.Fatal(err)
	}
	if idx, err = s.SampleIndexes(ctx, "cam", all[0], all[1]); err != nil || len(idx) != 1 || idx[live.ID] == nil {
		t.Fatalf("after deleting %d: indexes for %v (%v)", done.ID, keys(idx), err)
	}
	// An orphan file (its row lost) is indexed with its sample index.
	orphan := filepath.Join(s.RecordingsDir(), "cam", "2026", "03", "29", "02-00-00.000.mp4")
	b, err := os.ReadFile(filepath.Join(s.RecordingsDir(), filepath.FromSlash(live.Path)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(orphan), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Recover(ctx, recoverFMP4); err != nil || rep.Indexed != 1 {
		t.Fatalf("recover orphan: %+v, %v", rep, err)
	}
	if idx, err = s.SampleIndexes(ctx, "cam", all[0], t0.Add(2*time.Hour).UnixNano()); err != nil || len(idx) != 2 {
		t.Fatalf("after indexing an orphan: indexes for %v (%v); want 2", keys(idx), err)
	}
}

func keys(m map[int64][]byte) []int64 {
	var k []int64
	for id := range m {
		k = append(k, id)
	}
	return k
}

// TestRangeVersion: the version of a range stays while its rows do and
// changes when a segment in it grows, is finished, is added or deleted; a
// segment outside the range does not change it.
func TestRangeVersion(t *testing.T) { storage.EachBackend(t, testRangeVersion) }

func testRangeVersion(t *testing.T, be storage.Backend) {
	o := be.Options(t)
	ctx := context.Background()
	s, err := storage.OpenWithOptions(ctx, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	a, b := t0.UnixNano(), t0.Add(time.Minute).UnixNano()
	seen := map[[32]byte]string{}
	step := func(what string, changes bool) {
		t.Helper()
		v, err := s.RangeVersion(ctx, "cam", a, b)
		if err != nil {
			t.Fatal(err)
		}
		prev, known := seen[v]
		if changes && known {
			t.Errorf("%s: version %x is the one after %q", what, v[:4], prev)
		}
		if !changes && !known {
			t.Errorf("%s: version changed", what)
		}
		seen[v] = what
	}
	step("empty", true)
	done := writeSegment(t, s, clip, t0, true)
	step("a finished segment", true)
	step("nothing new", false)
	live := writeSegment(t, s, clip, t0.Add(10*time.Second), false)
	step("a recording segment", true)
	live.Bytes, live.EndNS = 100, live.StartNS+1e9
	if err := s.UpdateSegment(ctx, live); err != nil {
		t.Fatal(err)
	}
	step("the recording segment grew", true)
	writeSegment(t, s, clip, t0.Add(2*time.Minute), true)
	step("a segment outside the range", false)
	if err := s.DeleteSegment(ctx, done.ID); err != nil {
		t.Fatal(err)
	}
	step("a segment deleted", true)
}
