package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// diskFree simulates a small filesystem: free = capacity - bytes of the
// files under dir (RELIABILITY F5: a full disk without filling one).
func diskFree(capacity int64) func(string) (int64, error) {
	return func(dir string) (int64, error) {
		var used int64
		err := filepath.WalkDir(filepath.Join(dir, RecordingsDirName), func(_ string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				used += fi.Size()
			}
			return nil
		})
		return capacity - used, err
	}
}

func TestRetention(t *testing.T) { EachBackend(t, testRetention) }

func testRetention(t *testing.T, be Backend) {
	ctx := context.Background()
	now := t0.Add(48 * time.Hour)
	hour := int64(time.Hour)
	// Per camera: complete segments one hour long, 1000 bytes each, ending
	// 40h, 30h, 20h, 10h and 1h before now, then a segment still recording
	// that started 50 h ago (a long-running recording is never deleted).
	ends := []int64{40, 30, 20, 10, 1}
	type segKey struct {
		camera   string
		hoursAgo int64
	}
	tests := []struct {
		name      string
		policy    RetentionPolicy
		capacity  int64 // simulated disk; 0 = huge
		wantGone  []segKey
		wantUnmet int
	}{
		{"no limits", RetentionPolicy{}, 0, nil, 0},
		{"max age", RetentionPolicy{MaxAge: 25 * time.Hour}, 0,
			[]segKey{{"a", 40}, {"a", 30}, {"b", 40}, {"b", 30}}, 0},
		{"segment ending exactly at the cutoff goes", RetentionPolicy{MaxAge: 30 * time.Hour}, 0,
			[]segKey{{"a", 40}, {"a", 30}, {"b", 40}, {"b", 30}}, 0},
		{"per-camera age", RetentionPolicy{MaxAge: 35 * time.Hour, PerCameraMaxAge: map[string]time.Duration{"b": 5 * time.Hour}}, 0,
			[]segKey{{"a", 40}, {"b", 40}, {"b", 30}, {"b", 20}, {"b", 10}}, 0},
		{"max bytes oldest first across cameras", RetentionPolicy{MaxBytes: 7500}, 0,
			// 12 000 bytes (2 recording) → drop 5 oldest (ends 40h a/b, 30h a/b, 20h a).
			[]segKey{{"a", 40}, {"b", 40}, {"a", 30}, {"b", 30}, {"a", 20}}, 0},
		{"min free", RetentionPolicy{MinFreeBytes: 3000}, 12_500,
			// 500 free: 2500 more needed → 3 oldest.
			[]segKey{{"a", 40}, {"b", 40}, {"a", 30}}, 0},
		{"disk full: only recording segments left", RetentionPolicy{MinFreeBytes: 11_000}, 12_000,
			[]segKey{{"a", 40}, {"b", 40}, {"a", 30}, {"b", 30}, {"a", 20}, {"b", 20}, {"a", 10}, {"b", 10}, {"a", 1}, {"b", 1}}, 1},
		{"max bytes unreachable", RetentionPolicy{MaxBytes: 1000}, 0,
			[]segKey{{"a", 40}, {"b", 40}, {"a", 30}, {"b", 30}, {"a", 20}, {"b", 20}, {"a", 10}, {"b", 10}, {"a", 1}, {"b", 1}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			capacity := tc.capacity
			if capacity == 0 {
				capacity = 1 << 40
			}
			o := be.Options(t)
			o.FreeSpace = diskFree(capacity)
			s, err := OpenWithOptions(ctx, filepath.Join(t.TempDir(), "data"), o)
			must(t, err)
			defer s.Close()
			ids := map[int64]segKey{}
			var recording []int64
			for _, cam := range []string{"a", "b"} {
				for _, e := range ends {
					end := now.UnixNano() - e*hour
					seg := record(t, s, cam, end-hour, hour, 1000)
					ids[seg.ID] = segKey{cam, e}
				}
				id, f, err := createSeg(s, ctx, Segment{Camera: cam, StartNS: now.UnixNano() - 50*hour + 1})
				must(t, err)
				f.Write(make([]byte, 1000))
				f.Abandon()
				must(t, s.UpdateSegment(ctx, Segment{ID: id, EndNS: now.UnixNano() - 50*hour + 2, Bytes: 1000, Frames: 1}))
				recording = append(recording, id)
			}
			pol := tc.policy
			reported := map[int64]bool{}
			pol.Deleted = func(segs []Segment) {
				for _, seg := range segs {
					reported[seg.ID] = true
				}
			}
			rep, err := s.ApplyRetention(ctx, pol, now)
			must(t, err)
			var gone []segKey
			for id, k := range ids {
				if _, err := s.Segment(ctx, id); errors.Is(err, ErrNotFound) {
					gone = append(gone, k)
					if !reported[id] {
						t.Errorf("segment %v deleted but not reported", k)
					}
				} else if reported[id] {
					t.Errorf("segment %v reported deleted but kept", k)
				}
			}
			sortKeys := func(k []segKey) {
				slices.SortFunc(k, func(a, b segKey) int {
					if a.camera != b.camera {
						return map[bool]int{true: -1, false: 1}[a.camera < b.camera]
					}
					return int(b.hoursAgo - a.hoursAgo)
				})
			}
			want := slices.Clone(tc.wantGone)
			sortKeys(gone)
			sortKeys(want)
			if !slices.Equal(gone, want) {
				t.Errorf("deleted %v, want %v", gone, want)
			}
			if rep.Deleted != len(want) || rep.FreedBytes != int64(1000*len(want)) || len(rep.Unmet) != tc.wantUnmet {
				t.Errorf("report %+v", rep)
			}
			for _, id := range recording {
				seg, err := s.Segment(ctx, id)
				if err != nil || seg.State != StateRecording || !exists(s, seg.Path) {
					t.Errorf("recording segment %d touched: %+v %v", id, seg, err)
				}
			}
			checkConsistentCounts(t, s)
			used, free, err := s.DiskUsage(ctx)
			must(t, err)
			if wantUsed := int64(12_000 - 1000*len(want)); used != wantUsed || free != capacity-wantUsed {
				t.Errorf("DiskUsage = %d, %d; want %d, %d", used, free, wantUsed, capacity-wantUsed)
			}
		})
	}
}

// TestRetentionFreeSpaceStuck: when deleting does not raise free space
// (another program is filling the disk), retention stops instead of
// deleting every recording.
func TestRetentionFreeSpaceStuck(t *testing.T) { EachBackend(t, testRetentionFreeSpaceStuck) }

func testRetentionFreeSpaceStuck(t *testing.T, be Backend) {
	ctx := context.Background()
	o := be.Options(t)
	o.FreeSpace = func(string) (int64, error) { return 0, nil }
	s, err := OpenWithOptions(ctx, t.TempDir(), o)
	must(t, err)
	defer s.Close()
	for i := range 10 {
		record(t, s, "cam", t0.UnixNano()+int64(i)*sec, sec, 100)
	}
	rep, err := s.ApplyRetention(ctx, RetentionPolicy{MinFreeBytes: 150}, t0)
	must(t, err)
	if rep.Deleted != 2 || len(rep.Unmet) != 1 {
		t.Fatalf("report %+v: want 2 deleted then stop", rep)
	}
}

// TestInterruptedDeletionTidied: a crash between unlinking a file and
// removing its row (state deleting) is finished by Recover at start, and a
// deleting row is invisible meanwhile.
func TestInterruptedDeletionTidied(t *testing.T) { EachBackend(t, testInterruptedDeletionTidied) }

func testInterruptedDeletionTidied(t *testing.T, be Backend) {
	o := be.Options(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenWithOptions(ctx, dir, o)
	must(t, err)
	seg := record(t, s, "cam", t0.UnixNano(), sec, 100)
	keep := record(t, s, "cam", t0.UnixNano()+sec, sec, 100)
	must(t, s.setState(ctx, []Segment{seg}, StateDeleting))
	if _, err := s.Segment(ctx, seg.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting row visible: %v", err)
	}
	if segs, _, _ := s.ListSegments(ctx, "cam", 0, t0.UnixNano()+10*sec, 0, ""); len(segs) != 1 || segs[0].ID != keep.ID {
		t.Fatalf("listing shows %+v", segs)
	}
	must(t, s.Close()) // the "crash"

	s, err = OpenWithOptions(ctx, dir, o)
	must(t, err)
	defer s.Close()
	var scanned atomic.Int32
	rep, err := s.Recover(ctx, func(r io.ReaderAt, n int64) (RecoveredFile, error) { scanned.Add(1); return fakeScanner(r, n) })
	must(t, err)
	if rep.Deletions != 1 || scanned.Load() != 0 {
		t.Fatalf("report %+v, %d scans", rep, scanned.Load())
	}
	if exists(s, seg.Path) || !exists(s, keep.Path) {
		t.Fatal("wrong files removed")
	}
	var n int
	must(t, s.r.QueryRow(`SELECT count(*) FROM segments`).Scan(&n))
	if n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestDeleteSegmentRefusesRecording(t *testing.T) {
	EachBackend(t, testDeleteSegmentRefusesRecording)
}

func testDeleteSegmentRefusesRecording(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	must(t, err)
	f.Abandon()
	if err := s.DeleteSegment(ctx, id); !errors.Is(err, ErrRecording) {
		t.Fatalf("err = %v, want ErrRecording", err)
	}
	done := record(t, s, "cam", t0.UnixNano()+sec, sec, 10)
	must(t, s.DeleteSegment(ctx, done.ID))
	if exists(s, done.Path) {
		t.Fatal("file kept")
	}
}
