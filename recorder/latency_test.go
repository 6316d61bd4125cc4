package recorder

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/live"
	"github.com/nvr-project/nvr/recorder/rtsp"
)

type latencySession struct {
	fakeSession
	mu  sync.Mutex
	set []time.Duration
}

func (s *latencySession) SetReadLatency(d time.Duration) {
	s.mu.Lock()
	s.set = append(s.set, d)
	s.mu.Unlock()
}

func (s *latencySession) latencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.set...)
}

// TestReadLatencyPolicy: a recording session batches its reads while
// nobody watches its camera's live stream; a viewer turns batching off as
// he comes (not at the next frame: a batch may be a while coming), the
// last one leaving turns it on; the session is told only of changes, and
// nothing after it ended. A session with an audio track waits for its
// audio to be placed (lip sync by arrival compares arrival times). A
// live-only session never batches.
func TestReadLatencyPolicy(t *testing.T) {
	cfg := Config{Camera: "c", RTSP: rtsp.Config{URL: "rtsp://h/"}}.WithDefaults()
	if cfg.ReadLatency <= 0 || cfg.FragmentDuration+cfg.ReadLatency > time.Second {
		t.Fatalf("defaults: read latency %v, fragments %v: a crash could lose more than a second", cfg.ReadLatency, cfg.FragmentDuration)
	}
	lv := live.NewStream(nil)
	defer lv.Close()
	sess := &latencySession{}
	j := &Job{cfg: cfg, deps: Deps{Live: lv}}
	p := j.readLatency(sess, true)
	v1, err := lv.Watch()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := lv.WatchVideo()
	if err != nil {
		t.Fatal(err)
	}
	v1.Close()
	v2.Close()
	p.stop()
	if v3, err := lv.Watch(); err == nil {
		v3.Close()
	}
	want := []time.Duration{cfg.ReadLatency, 0, cfg.ReadLatency}
	if got := sess.latencies(); !slices.Equal(got, want) {
		t.Errorf("latencies set %v, want %v", got, want)
	}

	// With an audio track, batching waits until the audio is placed.
	as := &latencySession{}
	ap := j.readLatency(as, false)
	ap.allow()
	ap.allow()
	ap.stop()
	if got, want := as.latencies(), []time.Duration{0, cfg.ReadLatency}; !slices.Equal(got, want) {
		t.Errorf("session with audio: latencies set %v, want %v", got, want)
	}

	cfg.LiveOnly = true
	ls := &latencySession{}
	lp := (&Job{cfg: cfg, deps: Deps{Live: lv}}).readLatency(ls, true)
	lp.allow()
	lp.stop()
	if got := ls.latencies(); !slices.Equal(got, []time.Duration{0}) {
		t.Errorf("live-only session: latencies set %v, want [0]", got)
	}
}
