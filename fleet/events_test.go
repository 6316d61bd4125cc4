package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder"
)

// A full buffer drops events and counts them; once there is room the
// subscriber is told how many it missed, then gets the next event.
func TestSubscriptionDropsAndSaysSo(t *testing.T) {
	var h hub
	sub := h.subscribe(2)
	ev := func(i int) Event { return SegmentGrew{Base: Base{Camera: fmt.Sprint(i)}} }
	for i := 1; i <= 5; i++ {
		h.publish(ev(i)) // 1 and 2 fit, 3..5 are dropped
	}
	for _, want := range []string{"1", "2"} {
		if got := (<-sub.Events()).CameraID(); got != want {
			t.Fatalf("got event %q, want %q", got, want)
		}
	}
	h.publish(ev(6))
	if m, ok := (<-sub.Events()).(Missed); !ok || m.Count != 3 {
		t.Fatalf("want Missed{3} after the drops, got %#v", m)
	}
	if got := (<-sub.Events()).CameraID(); got != "6" {
		t.Fatalf("got event %q after Missed, want 6", got)
	}
	if sub.Dropped() != 3 || h.droppedTotal() != 3 {
		t.Errorf("dropped %d (hub %d), want 3", sub.Dropped(), h.droppedTotal())
	}
	sub.Close()
	h.publish(ev(7)) // nobody left; must not panic on the closed channel
	if _, open := <-sub.Events(); open {
		t.Error("channel still open after Close")
	}
	h.close()
	if _, open := <-h.subscribe(1).Events(); open {
		t.Error("a subscription after close is open")
	}
}

// A disk-full failure matches ErrDiskFull through the fleet's error, and
// keeps the job's own sentinel.
func TestJobErrorDiskFull(t *testing.T) {
	full := jobError{fmt.Errorf("%w: write sample: %w", recorder.ErrWrite, &errnoPath{syscall.ENOSPC})}
	if !errors.Is(full, ErrDiskFull) || !errors.Is(full, recorder.ErrWrite) {
		t.Errorf("ENOSPC: Is(ErrDiskFull)=%v Is(ErrWrite)=%v", errors.Is(full, ErrDiskFull), errors.Is(full, recorder.ErrWrite))
	}
	if other := (jobError{recorder.ErrStalled}); errors.Is(other, ErrDiskFull) {
		t.Error("a stall is not a full disk")
	}
	if !wantsRetention(JobFailed{Err: full}) || wantsRetention(JobFailed{Err: jobError{recorder.ErrStalled}}) {
		t.Error("retention must look again after a full disk, and only then")
	}
}

type errnoPath struct{ err error }

func (e *errnoPath) Error() string { return "write /data/x.mp4: " + e.err.Error() }
func (e *errnoPath) Unwrap() error { return e.err }

// A subscriber that stops reading does not hold up recording: a camera
// records segment after segment while the stalled subscriber's buffer is
// long full; its events are dropped and counted, and when it reads again
// it learns how many it missed.
func TestStalledSubscriberDoesNotBlockRecording(t *testing.T) {
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := filepath.Join(t.TempDir(), "data")
	cfg := parseConfig(t, fmt.Sprintf("data_dir: %s\nsegment_duration: 1s\nfsync_interval: 1s\ncameras:\n  - id: cam\n    url: %s\n", dir, cam.URL()))
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true})
	if err != nil {
		t.Fatal(err)
	}
	stalled := f.Subscribe(1) // never read until the end
	reader := f.Subscribe(0)
	const want = 4
	finished := 0
	var states []State
	timeout := time.After(30 * time.Second)
	for finished < want {
		select {
		case ev := <-reader.Events():
			switch ev := ev.(type) {
			case SegmentFinished:
				finished++
			case StateChanged:
				states = append(states, ev.State)
			}
		case <-timeout:
			t.Fatalf("only %d segments finished in 30 s with a stalled subscriber", finished)
		}
	}
	if len(states) == 0 || states[len(states)-1] != StateRecording {
		t.Errorf("states seen %v, want recording last", states)
	}
	dropped := stalled.Dropped()
	if dropped == 0 {
		t.Fatal("the stalled subscriber lost nothing: its buffer was never full")
	}
	<-stalled.Events() // the one event that fitted
	select {
	case ev := <-stalled.Events():
		if m, ok := ev.(Missed); !ok || m.Count < dropped {
			t.Errorf("first event after reading again: %#v, want Missed with at least %d", ev, dropped)
		}
	case <-time.After(10 * time.Second):
		t.Error("no event after reading again")
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stats("cam"); st.SegmentsWritten < want {
		t.Errorf("%d segments written, want %d", st.SegmentsWritten, want)
	}
	if _, open := <-reader.Events(); open {
		for range reader.Events() {
		}
	}
	if segs := segcheck.Index(t, dir, "cam"); len(segs) < want {
		t.Errorf("%d segments indexed, want %d", len(segs), want)
	}
}

// Retention's deletions are events too, one per segment, and counted for
// the metrics; each deleted segment is one a job finished before.
func TestRetentionPublishesDeletions(t *testing.T) {
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := filepath.Join(t.TempDir(), "data")
	cfg := parseConfig(t, fmt.Sprintf("data_dir: %s\nsegment_duration: 1s\nfsync_interval: 1s\nretention:\n  max_bytes: 1KB\ncameras:\n  - id: cam\n    url: %s\n", dir, cam.URL()))
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	sub := f.Subscribe(MaxBuffer)
	finished := map[int64]bool{}
	timeout := time.After(30 * time.Second)
	for deleted := 0; deleted < 2; {
		select {
		case ev := <-sub.Events():
			switch ev := ev.(type) {
			case SegmentFinished:
				finished[ev.Segment.ID] = true
			case SegmentDeleted:
				if !finished[ev.Segment.ID] || ev.Camera != "cam" {
					t.Fatalf("deleted segment %d of %q was never finished", ev.Segment.ID, ev.Camera)
				}
				deleted++
			case Missed:
				t.Fatalf("missed %d events with a buffer of %d", ev.Count, MaxBuffer)
			}
		case <-timeout:
			t.Fatal("retention deleted nothing in 30 s with max_bytes 1KB")
		}
	}
	if n := f.deleted.Load(); n < 2 {
		t.Errorf("metrics count %d deletions, want at least 2", n)
	}
}
