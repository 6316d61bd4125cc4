package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit: writes that arrive while a transaction runs share the
// next one (SQLite), and a write that fails in a group is undone alone:
// the writes before and after it in the same transaction commit.
func TestGroupCommit(t *testing.T) {
	s, _ := newStore(t, Backends[0])
	ctx := context.Background()
	var segs []Segment
	for i := range 3 {
		segs = append(segs, Segment{Camera: "cam", StartNS: t0.UnixNano() + int64(i)*10*sec})
		id, f, err := createSeg(s, ctx, segs[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Abandon() })
		segs[i].ID = id
	}
	// Hold the one writer connection: the first write leads and waits for
	// it; the three after it gather behind.
	hold, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := func() int {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		if !s.group.leading {
			return -1
		}
		return len(s.group.pending)
	}
	waitPending := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); pending() != n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d writes waiting, want %d", pending(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	txs0 := s.group.txs
	update := func(seg Segment, endNS int64) error {
		seg.EndNS, seg.Bytes, seg.Frames = endNS, 100, 10
		return s.UpdateSegment(ctx, seg)
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = update(segs[0], segs[0].StartNS+sec) })
	waitPending(0) // it leads, its group taken
	for i, w := range []func() error{
		func() error { return update(segs[1], segs[1].StartNS+sec) },
		func() error { return update(Segment{ID: 999999, Camera: "cam"}, t0.UnixNano()) }, // no such row
		func() error { return update(segs[2], segs[2].StartNS+sec) },
	} {
		wg.Go(func() { errs[i+1] = w() })
		waitPending(i + 1)
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || errs[3] != nil {
		t.Fatalf("updates: %v", errs)
	}
	if !errors.Is(errs[2], ErrNotFound) {
		t.Fatalf("update of a missing row: %v", errs[2])
	}
	if n := s.group.txs - txs0; n != 2 {
		t.Fatalf("%d transactions for a lone write and a group of three, want 2", n)
	}
	for _, seg := range segs {
		got, err := s.Segment(ctx, seg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.EndNS != seg.StartNS+sec || got.Frames != 10 {
			t.Fatalf("segment %d: end %d frames %d: its update was lost", seg.ID, got.EndNS-seg.StartNS, got.Frames)
		}
	}
}

// TestGroupCommitConcurrent: many cameras creating, updating and finishing
// segments at once all succeed, in fewer transactions than writes.
func TestGroupCommitConcurrent(t *testing.T) {
	s, _ := newStore(t, Backends[0])
	ctx := context.Background()
	const cams = 32
	txs0 := s.group.txs
	start := make(chan struct{})
	errs := make(chan error, cams)
	ids := make([]int64, cams)
	var wg sync.WaitGroup
	for i := range cams {
		wg.Go(func() {
			<-start
			seg := Segment{Camera: "cam" + string(rune('a'+i%26)) + string(rune('a'+i/26)), StartNS: t0.UnixNano()}
			id, f, err := createSeg(s, ctx, seg)
			if err != nil {
				errs <- err
				return
			}
			if _, err := f.Write(make([]byte, 100)); err != nil {
				errs <- err
				return
			}
			ids[i] = id
			seg.ID, seg.EndNS, seg.Frames, seg.Keyframes = id, seg.StartNS+sec, 25, 1
			if err := f.Sync(); err != nil {
				errs <- err
				return
			}
			if err := f.Update(ctx, seg); err != nil {
				errs <- err
				return
			}
			seg.EndNS += sec
			errs <- f.Finish(ctx, seg)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	complete := 0
	for _, id := range ids {
		r, err := s.Segment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == StateComplete && r.EndNS == r.StartNS+2*sec && r.Bytes == 100 {
			complete++
		}
	}
	n := s.group.txs - txs0
	t.Logf("%d writes in %d transactions", 3*cams, n)
	if complete != cams {
		t.Fatalf("%d of %d segments complete as written", complete, cams)
	}
	if n >= 3*cams {
		t.Fatalf("%d transactions for %d writes: none shared", n, 3*cams)
	}
}
