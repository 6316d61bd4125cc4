package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// TestFsyncError (RELIABILITY F7): EIO from fsync at close leaves the row
// recording (never complete for data that may not be on disk); the next
// start's recovery decides from what the file really holds.
func TestFsyncError(t *testing.T) { EachBackend(t, testFsyncError) }

func testFsyncError(t *testing.T, be Backend) {
	o := be.Options(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenWithOptions(ctx, dir, o)
	must(t, err)
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	must(t, err)
	io.WriteString(f, "vvvvvvvvvvvvvvvvvvvvX")
	s.fsync = func(*os.File) error { return syscall.EIO }
	err = f.Finish(ctx, Segment{ID: id, EndNS: t0.UnixNano() + sec, Frames: 25, Keyframes: 1})
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("FinishSegment err = %v, want EIO", err)
	}
	seg, err := s.Segment(ctx, id)
	if err != nil || seg.State != StateRecording {
		t.Fatalf("after EIO: %+v, %v; want still recording", seg, err)
	}
	must(t, s.Close())

	s, err = OpenWithOptions(ctx, dir, o)
	must(t, err)
	defer s.Close()
	rep, err := s.Recover(ctx, fakeScanner)
	must(t, err)
	if rep.Finalised != 1 {
		t.Fatalf("report %+v", rep)
	}
	seg, _ = s.Segment(ctx, id)
	if seg.State != StateComplete || seg.Bytes != 20 || seg.Frames != 2 {
		t.Fatalf("recovered %+v", seg)
	}
	checkConsistent(t, s)
}

// TestDiskFull (RELIABILITY F5): the disk fills while a segment records.
// The writer closes the segment at what it wrote, retention frees space by
// deleting the oldest complete segments (never the recording ones), the
// index stays consistent and the next segment can be created.
func TestDiskFull(t *testing.T) { EachBackend(t, testDiskFull) }

func testDiskFull(t *testing.T, be Backend) {
	ctx := context.Background()
	const capacity = 10_000
	o := be.Options(t)
	o.FreeSpace = diskFree(capacity)
	s, err := OpenWithOptions(ctx, t.TempDir(), o)
	must(t, err)
	defer s.Close()
	var old []Segment
	for i := range 4 {
		old = append(old, record(t, s, "cam", t0.UnixNano()+int64(i)*60*sec, 60*sec, 2000))
	}
	// Another camera is recording; its segment must survive.
	otherID, of, err := createSeg(s, ctx, Segment{Camera: "other", StartNS: t0.UnixNano()})
	must(t, err)
	of.Write(make([]byte, 1000))
	defer of.Abandon()
	// This camera's current segment: 1000 bytes fit, then ENOSPC.
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano() + 240*sec})
	must(t, err)
	f.Write(make([]byte, 1000))
	if _, free, _ := s.DiskUsage(ctx); free != 0 {
		t.Fatalf("disk not full: %d free", free)
	}
	must(t, f.Finish(ctx, Segment{ID: id, EndNS: t0.UnixNano() + 250*sec, Frames: 250, Keyframes: 5}))

	rep, err := s.ApplyRetention(ctx, RetentionPolicy{MinFreeBytes: 3000}, t0)
	must(t, err)
	if rep.Deleted != 2 || rep.ByFree != 2 || len(rep.Unmet) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, seg := range old {
		_, err := s.Segment(ctx, seg.ID)
		if gone := errors.Is(err, ErrNotFound); gone != (i < 2) {
			t.Errorf("segment %d gone=%v", i, gone)
		}
	}
	if seg, err := s.Segment(ctx, otherID); err != nil || seg.State != StateRecording {
		t.Fatalf("recording segment: %+v, %v", seg, err)
	}
	if seg, _ := s.Segment(ctx, id); seg.Bytes != 1000 || seg.State != StateComplete {
		t.Fatalf("closed segment %+v", seg)
	}
	checkConsistentCounts(t, s)
	_, f2, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano() + 250*sec})
	must(t, err)
	f2.Abandon()
}
