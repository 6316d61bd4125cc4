package recorder

import (
	"sync"
	"time"
)

// latencyPolicy sets a session's read latency from who waits for its
// frames: while nobody watches the camera live, a recording session's
// media may wait in its socket for Config.ReadLatency and is read in
// batches (rtsp.Session.SetReadLatency, docs/cpu.md); a live viewer, and
// a live-only session, want every frame at once.
type latencyPolicy struct {
	set   LatencySetter
	live  LiveWatched   // nil: nobody can watch
	batch time.Duration // the latency while nobody watches

	mu   sync.Mutex // update runs on the live stream's goroutines too
	cur  time.Duration
	init bool
}

// readLatency applies the policy to sess for as long as it reads; the
// returned func ends it.
func (j *Job) readLatency(sess Session) (stop func()) {
	set, ok := sess.(LatencySetter)
	if !ok {
		return func() {}
	}
	p := &latencyPolicy{set: set, batch: max(j.cfg.ReadLatency, 0)}
	if j.cfg.LiveOnly {
		p.batch = 0
	}
	stop = func() {}
	if lv, ok := j.deps.Live.(LiveWatched); ok && p.batch > 0 {
		p.live = lv
		// Told before it is read: a viewer who comes in between is not
		// missed.
		stop = lv.WatchViewers(p.update)
	}
	p.update()
	return stop
}

// update sets the latency for the viewers there are now. The hooks of a
// live stream may run at the same time: the last to take mu reads the
// count that holds.
func (p *latencyPolicy) update() {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := p.batch
	if p.live != nil && p.live.Viewers() > 0 {
		want = 0
	}
	if p.init && want == p.cur {
		return
	}
	p.init, p.cur = true, want
	p.set.SetReadLatency(want)
}
