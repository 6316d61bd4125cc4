package storage

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentReadersAndWriter (RELIABILITY F13): 50 readers and several
// writers racing each other never see SQLITE_BUSY ("database is locked"):
// writes are BEGIN IMMEDIATE on one connection, reads use WAL snapshots.
// With deferred transactions on a writer pool (the mattn/go-sqlite3#274
// setup) this test fails: a transaction that read first cannot upgrade.
func TestConcurrentReadersAndWriter(t *testing.T) { EachBackend(t, testConcurrentReadersAndWriter) }

func testConcurrentReadersAndWriter(t *testing.T, be Backend) {
	const (
		readers = 50
		writers = 4 // each creates segments concurrently
		writes  = 5 // segments per writer
		updates = 3 // progress updates per segment
	)
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()
	for i := range 20 {
		insertRow(t, s, Segment{Camera: "cam", StartNS: base + int64(i)*sec, EndNS: base + int64(i+1)*sec})
	}
	done := make(chan struct{})
	errc := make(chan error, readers+writers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var err error
				switch (r + i) % 4 {
				case 0:
					_, _, err = s.ListSegments(ctx, "cam", base, base+3600*sec, 5, "")
				case 1:
					_, err = s.Timeline(ctx, "cam", base, base+3600*sec)
				case 2:
					_, err = s.CameraStats(ctx, "cam")
				case 3:
					_, err = s.Segment(ctx, 1)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	var wg2 sync.WaitGroup
	for w := range writers {
		wg2.Go(func() {
			for i := range writes {
				start := base + int64(100+w*1000+i)*sec
				id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: start})
				if err != nil {
					errc <- err
					return
				}
				f.Write([]byte("frame"))
				for u := range updates {
					if err := s.UpdateSegment(ctx, Segment{ID: id, EndNS: start + int64(u), Bytes: 5, Frames: 1, Keyframes: 1}); err != nil {
						errc <- err
						return
					}
				}
				if err := f.Finish(ctx, Segment{ID: id, EndNS: start + sec, Frames: 1, Keyframes: 1}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg2.Wait()
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			t.Errorf("SQLITE_BUSY: %v", err)
		} else {
			t.Error(err)
		}
	}
	st, err := s.CameraStats(ctx, "cam")
	if err != nil || st.Segments != 20+writers*writes {
		t.Fatalf("stats %+v, %v; want %d segments", st, err, 20+writers*writes)
	}
	checkConsistentCounts(t, s)
}
