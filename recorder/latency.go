package recorder

import (
	"sync"
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

	stopHook func() // ends the live stream's hook

	mu      sync.Mutex // update runs on the live stream's goroutines too
	allowed bool       // batching may start (allow)
	cur     time.Duration
	init    bool
}

// readLatency applies the policy to sess for as long as it reads (until
// stop). Batching waits for allow unless allowed is true.
func (j *Job) readLatency(sess Session, allowed bool) *latencyPolicy {
	p := &latencyPolicy{batch: max(j.cfg.ReadLatency, 0), allowed: allowed, stopHook: func() {}}
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

// allow lets batching start; it is cheap once done (called per audio
// frame).
func (p *latencyPolicy) allow() {
	if p.batch == 0 {
		return
	}
	p.mu.Lock()
	done := p.allowed
	p.allowed = true
	p.mu.Unlock()
	if !done {
		p.update()
	}
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
	if !p.allowed || (p.live != nil && p.live.Viewers() > 0) {
		want = 0
	}
	if p.init && want == p.cur {
		return
	}
	p.init, p.cur = true, want
	p.set.SetReadLatency(want)
}
