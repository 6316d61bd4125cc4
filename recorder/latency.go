package recorder

import (
	"sync"
	"sync/atomic"
	"time"
)

// audioSyncWait is how long a session with an audio track reads at once
// waiting for its first audio frame to be placed (latencyPolicy.allow).
const audioSyncWait = 5 * time.Second

// latencyPolicy sets a session's read latency from who waits for its
// frames: while nobody watches the camera live, a recording session's
// media may wait in its socket for Config.ReadLatency and is read in
// batches (rtsp.Session.SetReadLatency, docs/cpu.md); a live viewer, and
// a live-only session, want every frame at once.
type latencyPolicy struct {
	set   LatencySetter
	live  LiveWatched   // nil: nobody can watch
	batch time.Duration // the latency while nobody watches

	stopHook func()      // ends the live stream's hook
	allowed  atomic.Bool // batching may start (allow)

	mu  sync.Mutex    // update runs on the live stream's goroutines too
	cur time.Duration // the latency set; -1 before the first
}

// readLatency applies the policy to sess for as long as it reads (until
// stop). Batching waits for allow unless allowed is true.
func (j *Job) readLatency(sess Session, allowed bool) *latencyPolicy {
	p := &latencyPolicy{batch: max(j.cfg.ReadLatency, 0), stopHook: func() {}, cur: -1}
	p.allowed.Store(allowed)
	p.set, _ = sess.(LatencySetter)
	if j.cfg.LiveOnly || p.set == nil {
		p.batch = 0
	}
	if lv, ok := j.deps.Live.(LiveWatched); ok && p.batch > 0 {
		p.live = lv
		// Told before it is read: a viewer who comes in between is not
		// missed.
		p.stopHook = lv.WatchViewers(p.update)
	}
	p.update()
	return p
}

// allow lets batching start. It is called for every frame, and once
// done costs an atomic load.
func (p *latencyPolicy) allow() {
	if p.allowed.Load() || p.allowed.Swap(true) {
		return
	}
	p.update()
}

func (p *latencyPolicy) stop() { p.stopHook() }

// update sets the latency for the viewers there are now. The hooks of a
// live stream may run at the same time: the last to take mu reads the
// count that holds.
func (p *latencyPolicy) update() {
	if p.set == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	want := p.batch
	if !p.allowed.Load() || (p.live != nil && p.live.Viewers() > 0) {
		want = 0
	}
	if want == p.cur {
		return
	}
	p.cur = want
	p.set.SetReadLatency(want)
}
