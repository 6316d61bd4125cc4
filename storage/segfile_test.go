package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// syncLog counts the fsyncs of a store: of files, and of each directory.
type syncLog struct {
	files int
	dirs  map[string]int
}

func countSyncs(s *Store) *syncLog {
	l := &syncLog{dirs: map[string]int{}}
	s.fsync = func(f *os.File) error { l.files++; return f.Sync() }
	s.dirSync = func(r *os.Root, d string) error { l.dirs[filepath.ToSlash(d)]++; return syncRootDir(r, d) }
	return l
}

// TestSegmentSyncsOnce: the segment handle performs each durability step
// once. Creating syncs each new parent directory once; the file is synced
// at each Sync that has new bytes (never again at Finish); its directory
// entry with the first sync only; recovery cuts a torn file back and syncs
// it and its directory once.
func TestSegmentSyncsOnce(t *testing.T) { EachBackend(t, testSegmentSyncsOnce) }

func testSegmentSyncsOnce(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	l := countSyncs(s)
	h, err := s.CreateSegment(ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	must(t, err)
	dir := path.Dir(h.Path())
	parents := map[string]int{".": 1}
	for d := dir; d != "cam"; d = path.Dir(d) {
		parents[path.Dir(d)] = 1
	}
	if l.files != 0 || !mapsEqual(l.dirs, parents) {
		t.Fatalf("after create: %d file syncs, directory syncs %v; want 0 and %v", l.files, l.dirs, parents)
	}
	clear(l.dirs)

	io.WriteString(h, strings.Repeat("v", 100))
	must(t, h.Sync())
	must(t, h.Sync()) // nothing new: no fsync
	must(t, h.Update(ctx, Segment{EndNS: t0.UnixNano() + sec, Frames: 10, Keyframes: 1}))
	io.WriteString(h, strings.Repeat("v", 50))
	must(t, h.Sync())
	must(t, h.Finish(ctx, Segment{EndNS: t0.UnixNano() + 2*sec, Frames: 15, Keyframes: 1}))
	if l.files != 2 || !mapsEqual(l.dirs, map[string]int{dir: 1}) {
		t.Fatalf("two syncs and a finish: %d file syncs, directory syncs %v; want 2 and {%s: 1}", l.files, l.dirs, dir)
	}
	seg, err := s.Segment(ctx, h.ID())
	must(t, err)
	if seg.State != StateComplete || seg.Bytes != 150 || seg.Frames != 15 {
		t.Fatalf("finished row %+v", seg)
	}

	// Finish without a sync of its own first: Finish syncs, once.
	l.files = 0
	clear(l.dirs)
	h, err = s.CreateSegment(ctx, Segment{Camera: "cam", StartNS: t0.UnixNano() + 10*sec})
	must(t, err)
	io.WriteString(h, strings.Repeat("v", 30))
	must(t, h.Finish(ctx, Segment{EndNS: t0.UnixNano() + 11*sec, Frames: 3, Keyframes: 1}))
	if l.files != 1 || !mapsEqual(l.dirs, map[string]int{dir: 1}) {
		t.Fatalf("finish alone: %d file syncs, directory syncs %v; want 1 and {%s: 1}", l.files, l.dirs, dir)
	}

	// A torn recording: synced once while recording, then the crash.
	h, err = s.CreateSegment(ctx, Segment{Camera: "cam", StartNS: t0.UnixNano() + 20*sec})
	must(t, err)
	io.WriteString(h, strings.Repeat("v", 100))
	must(t, h.Sync())
	must(t, h.Update(ctx, Segment{EndNS: t0.UnixNano() + 21*sec, Frames: 10, Keyframes: 1}))
	io.WriteString(h, "XXXX")
	must(t, h.Abandon())
	l.files = 0
	clear(l.dirs)
	rep, err := s.Recover(ctx, fakeScanner)
	must(t, err)
	if rep.Finalised != 1 || l.files != 1 || !mapsEqual(l.dirs, map[string]int{dir: 1}) {
		t.Fatalf("recovery: report %+v, %d file syncs, directory syncs %v; want 1 finalised, 1 and {%s: 1}", rep, l.files, l.dirs, dir)
	}
	seg, err = s.Segment(ctx, h.ID())
	must(t, err)
	fi, err := os.Stat(filepath.Join(s.RecordingsDir(), filepath.FromSlash(seg.Path)))
	must(t, err)
	if seg.State != StateComplete || seg.Bytes != 100 || fi.Size() != 100 {
		t.Fatalf("recovered row %+v, file of %d bytes; want 100", seg, fi.Size())
	}
	checkConsistent(t, s)
}

// TestSegmentSyncErrorIsFinal (RELIABILITY F7): after a failed fsync the
// handle never fsyncs again (a second one would prove nothing), Update and
// Finish refuse, and the row stays recording at its last synced progress.
func TestSegmentSyncErrorIsFinal(t *testing.T) { EachBackend(t, testSegmentSyncErrorIsFinal) }

func testSegmentSyncErrorIsFinal(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	h, err := s.CreateSegment(ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	must(t, err)
	io.WriteString(h, strings.Repeat("v", 100))
	must(t, h.Sync())
	must(t, h.Update(ctx, Segment{EndNS: t0.UnixNano() + sec, Frames: 10, Keyframes: 1}))
	calls := 0
	s.fsync = func(*os.File) error { calls++; return syscall.EIO }
	io.WriteString(h, strings.Repeat("v", 50))
	if err := h.Sync(); !errors.Is(err, ErrSync) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want ErrSync wrapping EIO", err)
	}
	s.fsync = func(f *os.File) error { calls++; return f.Sync() }
	if err := h.Sync(); !errors.Is(err, ErrSync) {
		t.Fatalf("second Sync = %v, want ErrSync", err)
	}
	if err := h.Finish(ctx, Segment{EndNS: t0.UnixNano() + 2*sec, Frames: 15, Keyframes: 1}); !errors.Is(err, ErrSync) {
		t.Fatalf("Finish = %v, want ErrSync", err)
	}
	if calls != 1 {
		t.Fatalf("%d fsyncs after the failure, want none", calls-1)
	}
	if h.Synced() != 100 {
		t.Fatalf("synced %d bytes, want the 100 of the good sync", h.Synced())
	}
	seg, err := s.Segment(ctx, h.ID())
	must(t, err)
	if seg.State != StateRecording || seg.Bytes != 100 || seg.Frames != 10 {
		t.Fatalf("row after the failure %+v, want recording at 100 bytes, 10 frames", seg)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
