//go:build linux

package rtsp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
)

// latencyRun is one session reading a real-time test camera, noting when
// each video packet arrived against when the camera sent it (its RTP time:
// main720 has no B-frames, so RTP time is send order).
type latencyRun struct {
	cam  *testcam.Server
	sess *Session
	mu   sync.Mutex
	t0   time.Time // arrival of the first packet
	ts0  uint32
	lags []lagAt // arrival minus schedule, from the first packet
}

type lagAt struct {
	at  time.Duration // since the first packet
	lag time.Duration
}

func startLatencyRun(t *testing.T, ctx context.Context, wg *sync.WaitGroup, opts testcam.Options, latency time.Duration) *latencyRun {
	t.Helper()
	cam, err := testcam.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	s, err := Open(ctx, Config{URL: cam.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetReadLatency(latency)
	r := &latencyRun{cam: cam, sess: s}
	wg.Go(func() {
		_ = s.ReadPackets(ctx, func(p *rtp.Packet) error {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.t0.IsZero() {
				r.t0, r.ts0 = now, p.Timestamp
			}
			sched := time.Duration(int64(p.Timestamp-r.ts0)) * time.Second / 90000
			r.lags = append(r.lags, lagAt{at: now.Sub(r.t0), lag: now.Sub(r.t0) - sched})
			return nil
		})
	})
	return r
}

// maxLag is the longest a packet arriving in [from, to) waited beyond the
// quickest one of the run.
func (r *latencyRun) maxLag(from, to time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	least, most := time.Duration(1<<62), time.Duration(-1<<62)
	for _, l := range r.lags {
		least = min(least, l.lag)
		if l.at >= from && l.at < to {
			most = max(most, l.lag)
		}
	}
	return most - least
}

func (r *latencyRun) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lags)
}

// TestReadLatency: with a read latency set, a session reads a camera that
// writes each packet on its own in far fewer reads than one reading at
// once, yet no packet waits much longer than the latency: not when the
// stream stops (what is left below the batch is taken at the deadline)
// and not after the latency is set back to zero (a live viewer came),
// which takes effect at once.
func TestReadLatency(t *testing.T) {
	const latency = 300 * time.Millisecond
	// Generous for a loaded CI machine, and well below what a reader
	// that waited for the batch alone would take (the media timeout).
	const slack = 150 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	stall := 3 * time.Second
	batched := startLatencyRun(t, ctx, &wg, testcam.Options{StallAfter: stall}, latency)
	direct := startLatencyRun(t, ctx, &wg, testcam.Options{}, 0)
	switched := startLatencyRun(t, ctx, &wg, testcam.Options{}, latency)

	reads := func(r *latencyRun) (packets, reads uint64) {
		st := r.sess.Stats()
		return st.Packets, st.ControlReads
	}
	// The rate is measured over the first second; batches start after it.
	time.Sleep(1200 * time.Millisecond)
	bp0, br0 := reads(batched)
	dp0, dr0 := reads(direct)
	time.Sleep(1300 * time.Millisecond)
	bp1, br1 := reads(batched)
	dp1, dr1 := reads(direct)
	switched.sess.SetReadLatency(0)
	perBatched := float64(bp1-bp0) / float64(br1-br0)
	perDirect := float64(dp1-dp0) / float64(dr1-dr0)
	t.Logf("RTP packets per read: %.1f with %v latency, %.1f without", perBatched, latency, perDirect)
	// At ~500 KB/s the batch is ~75 KB, ~50 packets of main720.
	if perBatched < 20 || perBatched < 1.5*perDirect {
		t.Errorf("packets per read %.1f with latency, %.1f without: reads are not batched", perBatched, perDirect)
	}

	// After the stall: everything sent arrives within the latency.
	time.Sleep(stall + latency + slack - 2500*time.Millisecond)
	if got, sent := batched.received(), batched.cam.Stats().PacketsSent; int64(got) != sent {
		t.Errorf("%d packets received of %d sent %v after the stream stopped: the tail waits for a batch that never comes", got, sent, latency+slack)
	}
	if lag := batched.maxLag(0, time.Hour); lag > latency+slack {
		t.Errorf("a batched packet waited %v, more than the latency %v", lag, latency)
	}
	// Lowered at once, not at the reader's next read: that could be a
	// batch (~150 ms) away.
	if lag := switched.maxLag(2550*time.Millisecond, time.Hour); lag > slack/2 {
		t.Errorf("after the latency was set to 0, a packet still waited %v", lag)
	}
	if lag := switched.maxLag(1200*time.Millisecond, 2500*time.Millisecond); lag < latency/4 {
		t.Errorf("with latency, the longest wait was only %v: not batched?", lag)
	}
}

// TestReadLatencyMediaTimeout: a batching reader still notices a camera
// that stopped sending (F2): the media timeout fires on time, not a
// latency later and not never, and a close ends the read at once.
func TestReadLatencyMediaTimeout(t *testing.T) {
	cam, err := testcam.Start(testcam.Options{StallAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	s, err := Open(context.Background(), Config{URL: cam.URL(), MediaTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetReadLatency(300 * time.Millisecond)
	var last time.Time
	var mid Stats // at 1.5 s: batching from here on
	start := time.Now()
	err = s.ReadPackets(context.Background(), func(*rtp.Packet) error {
		last = time.Now()
		if mid.Packets == 0 && last.Sub(start) > 1500*time.Millisecond {
			mid = s.Stats()
		}
		return nil
	})
	if !errors.Is(err, ErrMediaTimeout) {
		t.Fatalf("err = %v, want the media timeout", err)
	}
	if d := time.Since(last); d < 900*time.Millisecond || d > 1800*time.Millisecond {
		t.Errorf("the media timeout fired %v after the last packet, want about 1s", d)
	}
	// Batched (about 30 a read; read at once, 2–12 on this VM), so the
	// timeout above is a batching reader's.
	end := s.Stats()
	per := float64(end.Packets-mid.Packets) / float64(end.ControlReads-mid.ControlReads)
	t.Logf("%.1f RTP packets a read while batching", per)
	if per < 15 {
		t.Errorf("%.1f packets a read after the first second: the reads were not batched", per)
	}

	// Closing ends a batching read at once.
	cam2, err := testcam.Start(testcam.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cam2.Close()
	s2, err := Open(context.Background(), Config{URL: cam2.URL()})
	if err != nil {
		t.Fatal(err)
	}
	s2.SetReadLatency(time.Second)
	done := make(chan error, 1)
	go func() { done <- s2.ReadPackets(context.Background(), func(*rtp.Packet) error { return nil }) }()
	time.Sleep(1500 * time.Millisecond) // batching by now
	closed := time.Now()
	s2.Close()
	select {
	case <-done:
		if d := time.Since(closed); d > 300*time.Millisecond {
			t.Errorf("ReadPackets returned %v after Close", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPackets still running 5s after Close")
	}
}
