package recorder

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
)

// opener hands out scripted sessions (or errors) in order; after the
// script it returns sessions that block until cancelled.
type opener struct {
	mu       sync.Mutex
	script   []any // *fakeSession or error
	sessions []*fakeSession
	calls    int
	pace     func()
	mems     []*rtsp.AuthMemory // Config.AuthMemory of each call
}

func (o *opener) open(ctx context.Context, cfg rtsp.Config) (Session, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	o.mems = append(o.mems, cfg.AuthMemory)
	var next any = &fakeSession{}
	if len(o.script) > 0 {
		next, o.script = o.script[0], o.script[1:]
	}
	if err, ok := next.(error); ok {
		return nil, err
	}
	s := next.(*fakeSession)
	s.closed = make(chan struct{})
	s.pace = o.pace
	o.sessions = append(o.sessions, s)
	return s, nil
}

func (o *opener) session(i int) *fakeSession {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i >= len(o.sessions) {
		return nil
	}
	return o.sessions[i]
}

// clipSession serves a clip's packets, then ends with end (nil: stays
// open and silent, like a stalled camera).
func clipSession(c *testcam.Clip, loops int, end error) *fakeSession {
	sprop := base64.StdEncoding.EncodeToString(c.SPS) + "," + base64.StdEncoding.EncodeToString(c.PPS)
	return &fakeSession{
		info:    rtsp.Info{Video: rtsp.VideoTrack{Track: rtsp.Track{Codec: "H264"}, SpropParameterSets: sprop}},
		packets: packetize(c, loops, 1400),
		end:     end,
	}
}

// waitFor polls cond (real time, bounded): the job runs on its own
// goroutines and the test only observes it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startJob runs the job; the returned stop cancels it and checks that Run
// returns nil promptly.
func startJob(t *testing.T, j *Job) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancel", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// F1: the camera closes the connection mid-segment: the segment is
// finalised, the job reports retrying with the error, backs off ~1 s and
// reconnects; the state goes recording → retrying → recording.
func TestJobReconnectsAfterSessionEnd(t *testing.T) {
	c := loadClip(t, testcam.ClipMain720)
	closed := &rtsp.Error{Step: "read", Kind: rtsp.ErrClosed}
	op := &opener{script: []any{clipSession(c, 1, closed), clipSession(c, 1, nil)}}
	env := newTestEnv(t, Config{SegmentDuration: time.Minute}, op.open)
	op.pace = env.waitDrained
	stop := startJob(t, env.job)

	d := env.clock.waitAfter(t, func(d time.Duration) bool { return d <= 2*time.Second && d != time.Second*10/4 })
	if d != time.Second {
		t.Errorf("first backoff %v, want 1s (jitter midpoint)", d)
	}
	st := env.job.Status()
	if st.State != StateRetrying || !strings.Contains(st.LastError, "closed") || !st.NextRetry.Equal(env.clock.Now().Add(time.Second)) {
		t.Errorf("status after EOF: %+v", st)
	}
	if !isClosed(op.session(0).closed) {
		t.Error("first session not closed (no TEARDOWN)")
	}
	rows := env.store.segments()
	if len(rows) != 1 || rows[0].State != storage.StateComplete || rows[0].Frames != int64(len(c.Frames)) {
		t.Fatalf("after EOF rows = %+v, want one complete segment of %d frames", rows, len(c.Frames))
	}
	if st.Frames != uint64(len(c.Frames)) || st.SegmentsWritten != 1 || st.BytesReceived == 0 {
		t.Errorf("counters %+v", st)
	}

	env.clock.Advance(d)
	waitFor(t, "recording again", func() bool { return env.job.Status().State == StateRecording })
	// The last frame is held back until the next one or the session's end.
	waitFor(t, "second clip written", func() bool { return env.job.Status().Frames >= uint64(2*len(c.Frames)-1) })
	if got := env.job.Status().Reconnects; got != 1 {
		t.Errorf("Reconnects %d, want 1", got)
	}
	stop()
	st = env.job.Status()
	if st.State != StateStopped {
		t.Errorf("state after stop %q", st.State)
	}
	if !isClosed(op.session(1).closed) {
		t.Error("second session not closed on cancel")
	}
	rows = env.store.segments()
	var frames int64
	for _, r := range rows {
		if r.State != storage.StateComplete {
			t.Errorf("segment %d left %q after cancel", r.ID, r.State)
		}
		frames += r.Frames
	}
	if frames != int64(2*len(c.Frames)) || st.Frames != uint64(frames) {
		t.Errorf("rows hold %d frames, status %d, camera sent %d", frames, st.Frames, 2*len(c.Frames))
	}
	if rows[1].StartNS < rows[0].EndNS {
		t.Error("second run overlaps the first")
	}
}

// F2: the connection stays open but no frames come: after FrameTimeout the
// watchdog ends the session, the segment is finalised and the job retries.
func TestJobStallWatchdog(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	op := &opener{script: []any{clipSession(c, 1, nil)}}
	env := newTestEnv(t, Config{FrameTimeout: 4 * time.Second}, op.open)
	op.pace = env.waitDrained
	startJob(t, env.job)
	// All but the held-back last frame are written while the camera is silent.
	waitFor(t, "frames", func() bool { return env.job.Status().Frames == uint64(len(c.Frames)-1) })
	tick := func(d time.Duration) bool { return d == time.Second }
	advances := 0
	for env.job.Status().State != StateRetrying {
		env.clock.waitAfter(t, tick)
		if env.job.Status().State == StateRetrying {
			break
		}
		env.clock.Advance(time.Second)
		advances++
		if advances > 10 {
			t.Fatal("watchdog did not fire")
		}
		waitFor(t, "watchdog to react", func() bool {
			return env.job.Status().State == StateRetrying || len(env.clock.afters) > 0
		})
	}
	if advances < 4 {
		t.Errorf("stall declared after %d s, before the 4 s FrameTimeout", advances)
	}
	st := env.job.Status()
	if !strings.Contains(st.LastError, "no frames") {
		t.Errorf("LastError %q", st.LastError)
	}
	if !isClosed(op.session(0).closed) {
		t.Error("stalled session not closed")
	}
	rows := env.store.segments()
	if len(rows) != 1 || rows[0].State != storage.StateComplete || rows[0].Frames != int64(len(c.Frames)) {
		t.Errorf("rows %+v", rows)
	}
}

// Backoff: 1 s doubling to 30 s; reconnect count; the password never
// reaches LastError (S3); cancel during backoff returns promptly.
func TestJobBackoff(t *testing.T) {
	url := "rtsp://admin:s3cret@127.0.0.1:1/stream"
	refused := &rtsp.Error{Step: "connect", Kind: rtsp.ErrRefused, Err: fmt.Errorf("dial %s: s3cret refused", url)}
	var script []any
	for range 8 {
		script = append(script, refused)
	}
	op := &opener{script: script}
	env := newTestEnv(t, Config{RTSP: rtsp.Config{URL: url}}, op.open)
	op.pace = env.waitDrained
	stop := startJob(t, env.job)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		d := env.clock.waitAfter(t, func(time.Duration) bool { return true })
		if d != w*time.Second {
			t.Errorf("backoff %d: %v, want %v", i, d, w*time.Second)
		}
		st := env.job.Status()
		if st.State != StateRetrying || st.Reconnects != uint64(i) {
			t.Errorf("backoff %d: state %q reconnects %d", i, st.State, st.Reconnects)
		}
		if strings.Contains(st.LastError, "s3cret") || !strings.Contains(st.LastError, "refused") {
			t.Errorf("LastError %q leaks the password or lost the cause", st.LastError)
		}
		env.clock.Advance(d)
	}
	env.clock.waitAfter(t, func(time.Duration) bool { return true })
	// Every reconnect shares one memory of what the host offered, so a
	// host that offered Digest is never answered with Basic later.
	op.mu.Lock()
	for i, m := range op.mems {
		if m == nil || m != op.mems[0] {
			t.Errorf("session %d: AuthMemory %p, want the job's one %p", i, m, op.mems[0])
		}
	}
	op.mu.Unlock()
	start := time.Now()
	stop() // cancel while waiting out a 30 s backoff
	if e := time.Since(start); e > time.Second {
		t.Errorf("cancel during backoff took %v", e)
	}
}

func TestBackoffJitter(t *testing.T) {
	cases := []struct {
		failures int
		rnd      float64
		want     time.Duration
	}{
		{0, 0.5, time.Second},
		{0, 0, 800 * time.Millisecond},
		{0, 0.999999, 1200 * time.Millisecond},
		{3, 0, 6400 * time.Millisecond},
		{5, 0.999999, 30 * time.Second}, // 32 s capped to 30 before jitter, then capped again
		{5, 0, 24 * time.Second},
		{100, 0.5, 30 * time.Second}, // no overflow on long outages
	}
	for _, tc := range cases {
		j, err := NewJob(Config{Camera: "c", RTSP: rtsp.Config{URL: "rtsp://127.0.0.1/x"}}, Deps{Store: newFakeStore(t), Rand: func() float64 { return tc.rnd }})
		if err != nil {
			t.Fatal(err)
		}
		got := j.backoff(tc.failures)
		if d := got - tc.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("backoff(%d) with rand %v = %v, want %v", tc.failures, tc.rnd, got, tc.want)
		}
	}
}

// A healthy session (≥ 10 s recorded) resets the backoff to MinBackoff.
func TestJobBackoffResetsAfterHealthySession(t *testing.T) {
	c := loadClip(t, testcam.ClipMain720) // 4 s per loop
	closed := &rtsp.Error{Step: "read", Kind: rtsp.ErrClosed}
	refused := &rtsp.Error{Step: "connect", Kind: rtsp.ErrRefused}
	op := &opener{script: []any{refused, refused, clipSession(c, 3, closed), refused}}
	env := newTestEnv(t, Config{}, op.open)
	op.pace = env.waitDrained
	startJob(t, env.job)
	var got []time.Duration
	for range 4 {
		d := env.clock.waitAfter(t, func(d time.Duration) bool { return d != DefaultFrameTimeout/watchdogTicks })
		got = append(got, d)
		env.clock.Advance(d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoffs %v, want %v", got, want)
	}
}

// F8: a disk that blocks must not block the network reader; the queue
// stays bounded and frames are dropped up to the next keyframe, counted.
func TestJobSlowDiskDropsFrames(t *testing.T) {
	c := loadClip(t, testcam.ClipMain720) // ~4 Mbit/s: 10 loops ≈ 20 MB
	const loops = 10
	sess := clipSession(c, loops, nil)
	var readerDone atomic.Bool
	op := &opener{script: []any{sess}}
	env := newTestEnv(t, Config{SegmentDuration: time.Minute, FrameTimeout: time.Hour}, func(ctx context.Context, cfg rtsp.Config) (Session, error) {
		s, err := op.open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &signalSession{Session: s, done: &readerDone}, nil
	})
	env.log.gate = make(chan struct{})
	stop := startJob(t, env.job)
	// The writer is blocked on its first sample: the reader must still
	// get through every packet.
	waitFor(t, "reader to finish while the disk is stuck", readerDone.Load)
	st := env.job.Status()
	if st.DroppedFrames == 0 {
		t.Fatal("nothing dropped although the disk is stuck")
	}
	close(env.log.gate)
	stop()
	st = env.job.Status()
	if st.Frames+st.DroppedFrames != uint64(loops*len(c.Frames)) {
		t.Errorf("written %d + dropped %d != %d sent", st.Frames, st.DroppedFrames, loops*len(c.Frames))
	}
	segs, _ := env.log.all()
	var written int
	for _, s := range segs {
		written += len(s)
	}
	// Queue bound: at most maxQueueBytes of frames could wait, plus the
	// one the blocked writer held.
	maxFrame := 0
	for _, f := range c.Frames {
		maxFrame = max(maxFrame, len(f.AnnexB))
	}
	budget := (maxQueueBytes + maxFrame) / 1 // bytes
	var wroteBytes int
	for _, s := range segs {
		for _, f := range s {
			wroteBytes += f.size
		}
	}
	if wroteBytes > budget {
		t.Errorf("%d bytes were queued behind a stuck disk, bound %d", wroteBytes, budget)
	}
	// After the drops the stream resumes on a keyframe.
	for i, s := range segs {
		if len(s) > 0 && !s[0].key {
			t.Errorf("segment %d starts without a keyframe", i)
		}
	}
}

// signalSession reports when ReadPackets has delivered every packet.
type signalSession struct {
	Session
	done *atomic.Bool
}

func (s *signalSession) ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error {
	inner := s.Session.(*fakeSession)
	for _, p := range inner.packets {
		if err := fn(p); err != nil {
			return err
		}
	}
	s.done.Store(true)
	<-ctx.Done()
	return ctx.Err()
}

// Run leaves no goroutine behind, and a second concurrent Run is refused.
func TestJobNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	c := loadClip(t, testcam.ClipBase240)
	op := &opener{script: []any{clipSession(c, 1, &rtsp.Error{Step: "read", Kind: rtsp.ErrClosed}), clipSession(c, 1, nil)}}
	env := newTestEnv(t, Config{}, op.open)
	op.pace = env.waitDrained
	stop := startJob(t, env.job)
	d := env.clock.waitAfter(t, func(d time.Duration) bool { return d == time.Second })
	env.clock.Advance(d)
	waitFor(t, "second session", func() bool { return op.session(1) != nil && env.job.Status().State == StateRecording })
	if err := env.job.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	stop()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestRedact(t *testing.T) {
	cases := []struct {
		url, msg string
		secrets  []string
	}{
		{"rtsp://admin:s3cret@10.0.0.1/x", "dial rtsp://admin:s3cret@10.0.0.1/x: refused (s3cret)", []string{"s3cret"}},
		{"rtsp://admin:p%40ss%2Fw@10.0.0.1/x", "auth p@ss/w and p%40ss%2Fw failed", []string{"p@ss/w", "p%40ss%2Fw"}},
		{"rtsp://10.0.0.1/x?user=a&password=hunter2", "GET rtsp://10.0.0.1/x?user=a&password=hunter2 401", []string{"hunter2"}},
		{"rtsp://admin:bad%zz@10.0.0.1/x", "bad%zz in url", []string{"bad%zz"}},
	}
	for _, tc := range cases {
		got := newRedactor(tc.url)(tc.msg)
		for _, s := range tc.secrets {
			if strings.Contains(got, s) {
				t.Errorf("redact(%q) = %q still holds %q", tc.msg, got, s)
			}
		}
	}
	if got := newRedactor("rtsp://10.0.0.1/x")("plain message"); got != "plain message" {
		t.Errorf("message without secrets changed: %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Camera: "front-door_1", RTSP: rtsp.Config{URL: "rtsp://127.0.0.1/x"}}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"empty camera", func(c *Config) { c.Camera = "" }, "Camera"},
		{"camera with slash", func(c *Config) { c.Camera = "../etc" }, "Camera"},
		{"camera upper case", func(c *Config) { c.Camera = "Front" }, "Camera"},
		{"camera too long", func(c *Config) { c.Camera = strings.Repeat("a", 65) }, "Camera"},
		{"no url", func(c *Config) { c.RTSP.URL = "" }, "RTSP.URL"},
		{"negative segment", func(c *Config) { c.SegmentDuration = -time.Second }, "SegmentDuration"},
		{"huge segment", func(c *Config) { c.SegmentDuration = 2 * time.Hour }, "SegmentDuration"},
		{"longest segment", func(c *Config) { c.SegmentDuration = storage.MaxSegmentTarget }, ""},
		{"segment past the target limit", func(c *Config) { c.SegmentDuration = storage.MaxSegmentTarget + 1 }, "SegmentDuration"},
		{"fragment longer than segment", func(c *Config) { c.SegmentDuration = time.Second; c.FragmentDuration = 2 * time.Second }, "FragmentDuration"},
		{"negative fsync", func(c *Config) { c.FsyncInterval = -1 }, "FsyncInterval"},
		{"negative frame timeout", func(c *Config) { c.FrameTimeout = -1 }, "FrameTimeout"},
		{"min above max", func(c *Config) { c.MinBackoff = time.Minute }, "MinBackoff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.WithDefaults().Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	if _, err := NewJob(ok, Deps{}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("NewJob without a store: %v", err)
	}
	// Several problems are all reported.
	err := Config{}.WithDefaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "Camera") || !strings.Contains(err.Error(), "RTSP.URL") {
		t.Errorf("want every problem, got %v", err)
	}
}

// The queue never holds more than maxQueueBytes (plus one oversize unit
// when empty), drops until the next keyframe, and copies without
// allocating in steady state.
func TestQueueBounded(t *testing.T) {
	c := loadClip(t, testcam.ClipMain720)
	var dropped atomic.Uint64
	q := newQueue(&dropped)
	params := clipParams(t, c).parsed
	au := func(f testcam.Frame) *video.AccessUnit {
		return &video.AccessUnit{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe, SPS: c.SPS, PPS: c.PPS, Params: params}
	}
	for i := 0; i < 3*len(c.Frames); i++ {
		q.push(au(c.Frames[i%len(c.Frames)]), 0)
		if b := q.bytes.Load(); b > maxQueueBytes {
			t.Fatalf("queue holds %d bytes", b)
		}
	}
	if dropped.Load() == 0 {
		t.Fatal("no drops with nobody reading")
	}
	// Drain; the next non-key frame is still dropped, a keyframe resumes.
	for len(q.ch) > 0 {
		q.release(<-q.ch)
	}
	if q.bytes.Load() != 0 {
		t.Fatalf("drained queue counts %d bytes", q.bytes.Load())
	}
	d := dropped.Load()
	q.push(au(c.Frames[1]), 0)
	if dropped.Load() != d+1 || len(q.ch) != 0 {
		t.Error("P-frame after drops was queued")
	}
	q.push(au(c.Frames[0]), 0)
	q.push(au(c.Frames[1]), 0)
	if len(q.ch) != 2 || dropped.Load() != d+1 {
		t.Errorf("keyframe did not resume the stream: %d queued", len(q.ch))
	}
	for len(q.ch) > 0 {
		q.release(<-q.ch)
	}
	// An access unit bigger than the whole bound passes when empty.
	big := &video.AccessUnit{NALUs: [][]byte{make([]byte, maxQueueBytes+1)}, Keyframe: true, SPS: c.SPS, PPS: c.PPS, Params: params}
	q.push(big, 0)
	if len(q.ch) != 1 {
		t.Error("oversize keyframe refused on an empty queue")
	}
	q.release(<-q.ch)
	// Steady state: push and release allocate nothing.
	f := au(c.Frames[3])
	allocs := testing.AllocsPerRun(100, func() {
		q.push(f, 0)
		q.release(<-q.ch)
	})
	if allocs > 0 {
		t.Errorf("%v allocations per queued access unit", allocs)
	}
}

// Memory per camera: with every job mid-segment (session open, segment
// open), the heap held per job stays under the 2 MB budget plus
// the fragment being built.
func TestMemoryPerCamera(t *testing.T) {
	const jobs = 8
	c := loadClip(t, testcam.ClipMain720) // ~4 Mbit/s, 1 s fragments of ~0.5 MB
	packets := packetize(c, 1, 1400)
	var maxFragment int
	for i := 0; i < len(c.Frames); i += 25 {
		n := 0
		for _, f := range c.Frames[i:min(i+25, len(c.Frames))] {
			n += len(f.AnnexB)
		}
		maxFragment = max(maxFragment, n)
	}
	var envs []*testEnv
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	for range jobs {
		op := &opener{script: []any{&fakeSession{packets: packets}}}
		env := newTestEnv(t, Config{FrameTimeout: time.Hour}, op.open)
		env.job.deps.NewWriter = nil // the real fmp4 writer: its buffers count
		env.job.deps = env.job.deps.withDefaults()
		op.pace = env.waitDrained
		startJob(t, env.job)
		envs = append(envs, env)
	}
	for _, env := range envs {
		waitFor(t, "the clip written", func() bool { return env.job.Status().Frames == uint64(len(c.Frames)-1) })
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := (int64(ms.HeapInuse) - int64(before)) / jobs
	t.Logf("heap per camera mid-segment: %d KB (largest 1 s fragment %d KB)", per>>10, maxFragment>>10)
	if budget := int64(2<<20 + maxFragment); per > budget {
		t.Errorf("%d bytes per camera, budget %d", per, budget)
	}
}
