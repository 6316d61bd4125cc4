package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeScanner is a RecoverFunc: a file is "valid" up to the first 'X'
// byte (a torn tail), each 10 valid bytes are one frame of 1/25 s (3600
// ticks), the first frame a keyframe. A file whose first byte is 'E' fails.
func fakeScanner(r io.ReaderAt, size int64) (RecoveredFile, error) {
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return RecoveredFile{}, err
	}
	if len(b) > 0 && b[0] == 'E' {
		return RecoveredFile{}, errors.New("not an MP4")
	}
	valid := len(b)
	if i := strings.IndexByte(string(b), 'X'); i >= 0 {
		valid = i
	}
	frames := int64(valid / 10)
	kf := min(frames, 1)
	return RecoveredFile{Bytes: int64(valid), Frames: frames, Keyframes: kf, Duration90k: frames * 3600,
		Codecs: "avc1.42c01e", Width: 320, Height: 240}, nil
}

// createSeg is CreateSegment that also returns the new row's id.
func createSeg(s *Store, ctx context.Context, seg Segment) (int64, *SegmentFile, error) {
	h, err := s.CreateSegment(ctx, seg)
	if err != nil {
		return 0, nil, err
	}
	return h.ID(), h, nil
}

// writeRel writes a file under the recordings dir.
func writeRel(t *testing.T, s *Store, rel, content string) {
	t.Helper()
	p := filepath.Join(s.RecordingsDir(), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func exists(s *Store, rel string) bool {
	_, err := os.Lstat(filepath.Join(s.RecordingsDir(), filepath.FromSlash(rel)))
	return err == nil
}

func TestRecover(t *testing.T) { EachBackend(t, testRecover) }

func testRecover(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()

	// A recording segment whose file ends in a torn fragment.
	tornID, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: base})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, strings.Repeat("v", 100)+"XXXX")
	f.Abandon()
	torn, _ := s.Segment(ctx, tornID)

	// A recording row whose file never got written (crash after the insert).
	missingID, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: base + 60*sec})
	if err != nil {
		t.Fatal(err)
	}
	f.Abandon()
	missing, _ := s.Segment(ctx, missingID)
	os.Remove(filepath.Join(s.RecordingsDir(), filepath.FromSlash(missing.Path)))

	// A recording row whose file is garbage, and one with no whole frame.
	badID, f, _ := createSeg(s, ctx, Segment{Camera: "cam", StartNS: base + 120*sec})
	io.WriteString(f, "EEEE")
	f.Abandon()
	bad, _ := s.Segment(ctx, badID)
	emptyID, f, _ := createSeg(s, ctx, Segment{Camera: "cam", StartNS: base + 180*sec})
	io.WriteString(f, "vvvX")
	f.Abandon()
	empty, _ := s.Segment(ctx, emptyID)

	// A complete segment: untouched.
	done := record(t, s, "cam", base-60*sec, 60*sec, 123)

	// An interrupted deletion: row marked, file still there.
	del := record(t, s, "cam", base-120*sec, 60*sec, 50)
	if err := s.setState(ctx, []Segment{del}, StateDeleting); err != nil {
		t.Fatal(err)
	}
	// And one whose file was already unlinked.
	del2 := record(t, s, "cam", base-180*sec, 60*sec, 50)
	if err := s.setState(ctx, []Segment{del2}, StateDeleting); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(s.RecordingsDir(), filepath.FromSlash(del2.Path)))

	// Orphans: a valid file (new camera), one with a collision suffix, one
	// with a foreign name, one the scanner rejects, one not .mp4.
	writeRel(t, s, "yard/2026/03/29/01-00-00.500.mp4", strings.Repeat("v", 50))
	writeRel(t, s, "yard/2026/03/29/01-00-00.500-1.mp4", strings.Repeat("v", 20)+"X")
	writeRel(t, s, "yard/2026/03/29/holiday.mp4", strings.Repeat("v", 50))
	writeRel(t, s, "yard/2026/03/29/02-00-00.000.mp4", "EEEE")
	writeRel(t, s, "yard/notes.txt", "hello")

	rep, err := s.Recover(ctx, fakeScanner)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Finalised != 1 || rep.Indexed != 2 || rep.Deletions != 2 {
		t.Errorf("report %+v", rep)
	}
	if wantRemoved := []string{missing.Path, bad.Path, empty.Path}; !slices.Equal(rep.Removed, wantRemoved) {
		t.Errorf("removed %v, want %v", rep.Removed, wantRemoved)
	}
	var skipped []string
	for _, sk := range rep.Skipped {
		skipped = append(skipped, sk.Path)
	}
	if want := []string{"yard/2026/03/29/02-00-00.000.mp4", "yard/2026/03/29/holiday.mp4"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}

	got, err := s.Segment(ctx, tornID)
	if err != nil {
		t.Fatal(err)
	}
	want := torn
	want.State, want.Bytes, want.Frames, want.Keyframes = StateComplete, 100, 10, 1
	want.EndNS = base + 400_000_000 // 10 frames of 40 ms
	want.Codecs, want.Width, want.Height = "avc1.42c01e", 320, 240
	if got != want {
		t.Errorf("torn segment:\n got %+v\nwant %+v", got, want)
	}
	for _, seg := range []Segment{missing, bad, empty, del, del2} {
		if _, err := s.Segment(ctx, seg.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("row %s still there: %v", seg.Path, err)
		}
		if exists(s, seg.Path) {
			t.Errorf("file %s still there", seg.Path)
		}
	}
	if got, _ := s.Segment(ctx, done.ID); got != done {
		t.Errorf("complete segment changed: %+v, was %+v", got, done)
	}
	for _, rel := range []string{"yard/2026/03/29/holiday.mp4", "yard/2026/03/29/02-00-00.000.mp4", "yard/notes.txt"} {
		if !exists(s, rel) {
			t.Errorf("foreign file %s was touched", rel)
		}
	}
	yard, _, err := s.ListSegments(ctx, "yard", base, base+3600*sec, 0, "")
	if err != nil || len(yard) != 2 {
		t.Fatalf("yard segments %+v, %v", yard, err)
	}
	orphanStart := base + 2*sec + 377_000_000 // 01:00:00.500 is t0 (00:59:58.123) + 2.377 s
	byPath := map[string]Segment{}
	for _, y := range yard {
		byPath[y.Path] = y
	}
	wantYard := map[string]Segment{
		"yard/2026/03/29/01-00-00.500.mp4":   {EndNS: orphanStart + 200_000_000, Bytes: 50, Frames: 5},
		"yard/2026/03/29/01-00-00.500-1.mp4": {EndNS: orphanStart + 80_000_000, Bytes: 20, Frames: 2},
	}
	for p, w := range wantYard {
		w.ID, w.Camera, w.StartNS, w.Path, w.Keyframes, w.State = byPath[p].ID, "yard", orphanStart, p, 1, StateComplete
		w.Codecs, w.Width, w.Height, w.Stream = "avc1.42c01e", 320, 240, StreamMain
		if byPath[p] != w {
			t.Errorf("orphan row\n got %+v\nwant %+v", byPath[p], w)
		}
	}

	checkConsistent(t, s)

	// Recovery is idempotent: a second run finds nothing to do.
	rep, err = s.Recover(ctx, fakeScanner)
	if err != nil || rep.Finalised+rep.Indexed+rep.Deletions+len(rep.Removed) != 0 {
		t.Fatalf("second recover %+v, %v", rep, err)
	}
}

// checkConsistent is RELIABILITY F10: every row is complete and its file
// exists at exactly the row's size; the camera counts equal the rows.
func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	checkConsistentCounts(t, s)
	rows, err := s.r.Query(`SELECT ` + segmentColumns + ` FROM segments`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		seg, err := scanSegment(rows)
		if err != nil {
			t.Fatal(err)
		}
		if seg.State != StateComplete {
			t.Errorf("row %d is %s after recovery", seg.ID, seg.State)
		}
		fi, err := os.Stat(filepath.Join(s.RecordingsDir(), filepath.FromSlash(seg.Path)))
		if err != nil {
			t.Errorf("row %d: %v", seg.ID, err)
		} else if fi.Size() != seg.Bytes {
			t.Errorf("row %d: file %d bytes, row %d", seg.ID, fi.Size(), seg.Bytes)
		}
	}
}

// checkConsistentCounts: cameras.segments and cameras.bytes (kept by
// triggers) equal the rows they summarise.
func checkConsistentCounts(t *testing.T, s *Store) {
	t.Helper()
	var bad int
	if err := s.r.QueryRow(`SELECT count(*) FROM cameras c
		WHERE c.segments <> (SELECT count(*) FROM segments WHERE camera_id = c.id AND state <> 'deleting')
		OR c.bytes <> (SELECT coalesce(sum(bytes), 0) FROM segments WHERE camera_id = c.id AND state <> 'deleting')`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d cameras with wrong counts (%v)", bad, err)
	}
}

// TestRecoverSymlinkOut (S1): a recording row or orphan that is a symlink
// to a file outside the recordings dir is neither scanned nor truncated.
func TestRecoverSymlinkOut(t *testing.T) { EachBackend(t, testRecoverSymlinkOut) }

func testRecoverSymlinkOut(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	outside := filepath.Join(t.TempDir(), "precious.mp4")
	content := strings.Repeat("v", 30) + "XXXX"
	os.WriteFile(outside, []byte(content), 0o640)
	dir := filepath.Join(s.RecordingsDir(), "cam", "2026", "03", "29")
	os.MkdirAll(dir, 0o750)
	if err := os.Symlink(outside, filepath.Join(dir, "01-00-00.000.mp4")); err != nil {
		t.Fatal(err)
	}
	insertRow(t, s, Segment{Camera: "cam", StartNS: t0.UnixNano(), EndNS: t0.UnixNano(), Path: "cam/2026/03/29/01-00-00.000.mp4", State: StateRecording})
	os.Symlink(outside, filepath.Join(dir, "02-00-00.000.mp4"))
	called := false
	rep, err := s.Recover(ctx, func(r io.ReaderAt, n int64) (RecoveredFile, error) { called = true; return fakeScanner(r, n) })
	if err != nil {
		t.Fatal(err)
	}
	if called {
		t.Error("scanner called on a symlink")
	}
	if b, _ := os.ReadFile(outside); string(b) != content {
		t.Errorf("outside file changed to %q", b)
	}
	if len(rep.Removed) != 1 || len(rep.Skipped) != 1 {
		t.Errorf("report %+v", rep)
	}
}

// TestRecoverKeepsSpansApart: a recovered segment never overlaps its
// neighbours. A recording row whose file holds more media than the wall
// time before the next segment (the slew had fitted the row's span to the
// local clock) ends where the next one starts; a file without a row,
// whose name gives its start to the millisecond, starts no earlier than
// the previous segment ends.
func TestRecoverKeepsSpansApart(t *testing.T) { EachBackend(t, testRecoverKeepsSpansApart) }

func testRecoverKeepsSpansApart(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	ms := int64(1e6)
	base := t0.UnixNano()
	// A recording row at base holding 0.4 s of media; the next segment
	// starts 0.3 s after it.
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: base})
	must(t, err)
	io.WriteString(f, strings.Repeat("v", 100)) // 10 frames of 40 ms
	must(t, f.Abandon())
	next := record(t, s, "cam", base+300*ms, 60*sec, 10)
	// A complete segment ending half a millisecond into second 100, and
	// an orphan named for second 100.000.
	prev := record(t, s, "cam", base+99*sec, sec+ms/2, 10)
	orphan := SegmentPath("cam", t0.Add(100*time.Second))
	writeRel(t, s, orphan, strings.Repeat("v", 50))

	rep, err := s.Recover(ctx, fakeScanner)
	must(t, err)
	if rep.Finalised != 1 || rep.Indexed != 1 || len(rep.Skipped) != 0 {
		t.Fatalf("report %+v", rep)
	}
	seg, err := s.Segment(ctx, id)
	must(t, err)
	if seg.StartNS != base || seg.EndNS != next.StartNS {
		t.Errorf("recovered recording row spans [%d, %d), want [%d, %d)", seg.StartNS, seg.EndNS, base, next.StartNS)
	}
	segs, _, err := s.ListSegments(ctx, "cam", 0, base+3600*sec, 100, "")
	must(t, err)
	for i := 1; i < len(segs); i++ {
		if segs[i].StartNS < segs[i-1].EndNS {
			t.Errorf("%s starts at %d, before %s ends at %d", segs[i].Path, segs[i].StartNS, segs[i-1].Path, segs[i-1].EndNS)
		}
	}
	for _, g := range segs {
		if g.Path == orphan && g.StartNS != prev.EndNS {
			t.Errorf("the orphan starts at %d, want the previous end %d", g.StartNS, prev.EndNS)
		}
	}
}
