package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/clock"
)

// t0 is the fixed date every test starts from.
var t0 = time.Date(2026, 3, 29, 0, 59, 58, 123_000_000, time.UTC)

const sec = int64(time.Second)

// newStore opens a new data dir with a new index of backend be.
func newStore(t *testing.T, be Backend) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	o := be.Options(t)
	o.Clock = clock.NewFake(t0)
	s, err := OpenWithOptions(context.Background(), dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// record creates a complete segment of camera starting at startNS, lasting
// durNS, with a file of n bytes.
func record(t *testing.T, s *Store, camera string, startNS, durNS int64, n int) Segment {
	t.Helper()
	ctx := context.Background()
	seg := Segment{Camera: camera, StartNS: startNS, Codecs: "avc1.640028", Width: 1280, Height: 720}
	id, f, err := createSeg(s, ctx, seg)
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	seg.ID, seg.EndNS, seg.Frames, seg.Keyframes = id, startNS+durNS, 25, 1
	if err := f.Finish(ctx, seg); err != nil {
		t.Fatalf("FinishSegment: %v", err)
	}
	got, err := s.Segment(ctx, id)
	if err != nil {
		t.Fatalf("Segment: %v", err)
	}
	return got
}

func TestLifecycle(t *testing.T) { EachBackend(t, testLifecycle) }

func testLifecycle(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	if err := s.EnsureCamera(ctx, "front-door", "Front door"); err != nil {
		t.Fatal(err)
	}
	start := t0.UnixNano()
	id, f, err := createSeg(s, ctx, Segment{Camera: "front-door", StartNS: start, Codecs: "avc1.640028", Width: 1280, Height: 720})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abandon()
	seg, err := s.Segment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantPath := "front-door/2026/03/29/00-59-58.123.mp4"
	if seg.State != StateRecording || seg.Path != wantPath || seg.EndNS != start {
		t.Fatalf("after create: %+v, want recording at %s", seg, wantPath)
	}
	if _, err := os.Stat(filepath.Join(s.RecordingsDir(), filepath.FromSlash(wantPath))); err != nil {
		t.Fatalf("file not created: %v", err)
	}
	if _, err := f.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSegment(ctx, Segment{ID: id, EndNS: start + 2*sec, Bytes: 1000, Frames: 50, Keyframes: 1}); err != nil {
		t.Fatal(err)
	}
	seg, _ = s.Segment(ctx, id)
	if seg.EndNS != start+2*sec || seg.Bytes != 1000 || seg.Frames != 50 || seg.State != StateRecording {
		t.Fatalf("after update: %+v", seg)
	}
	if _, err := f.Write(make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	// Bytes deliberately wrong: the row takes the synced file's size.
	if err := f.Finish(ctx, Segment{ID: id, EndNS: start + 3*sec, Bytes: 1, Frames: 75, Keyframes: 2}); err != nil {
		t.Fatal(err)
	}
	seg, _ = s.Segment(ctx, id)
	want := Segment{ID: id, Camera: "front-door", Stream: StreamMain, StartNS: start, EndNS: start + 3*sec, Path: wantPath, Bytes: 1500,
		Frames: 75, Keyframes: 2, Codecs: "avc1.640028", Width: 1280, Height: 720, State: StateComplete}
	if seg != want {
		t.Fatalf("after finish:\n got %+v\nwant %+v", seg, want)
	}
	if err := s.UpdateSegment(ctx, Segment{ID: id, EndNS: start + 4*sec}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of complete segment: %v, want ErrNotFound", err)
	}
	if err := f.Finish(ctx, Segment{ID: id, EndNS: start + 4*sec, Frames: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second finish: %v, want ErrNotFound", err)
	}
	r, err := s.OpenSegmentFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := r.Stat()
	r.Close()
	if fi.Size() != 1500 {
		t.Fatalf("file size %d", fi.Size())
	}
	cams, err := s.Cameras(ctx)
	if err != nil || len(cams) != 1 || cams[0] != "front-door" {
		t.Fatalf("Cameras = %v, %v", cams, err)
	}
	st, err := s.CameraStats(ctx, "front-door")
	if err != nil || st != (CameraStats{Segments: 1, Bytes: 1500, FirstNS: start, LastNS: start + 3*sec}) {
		t.Fatalf("CameraStats = %+v, %v", st, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
