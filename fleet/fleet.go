// Package fleet owns nvr's set of camera jobs: it opens the index (and
// recovers what a crash left), starts a recording job for each camera in
// its schedule window and stops it when the window closes, applies a new
// config by the one diff config.Diff computes, runs retention, and hands
// out what happens to the jobs as typed events (Subscribe). The API's
// camera states, the metrics and the log are all read from that stream.
//
// One goroutine owns the set of jobs. Everything else — the schedule
// runner's hooks, Apply, a job that ends — only tells it what changed and
// returns at once, so a job that takes seconds to finalise its segment, or
// an out-of-band SDP fetched over HTTP, delays only its own camera.
//
// It does not own recording itself (package recorder), the index and files
// (storage), windows (schedule), the config file (internal/config) or the
// HTTP API (api); cmd/nvr wires it to the API.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/live"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/schedule"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/peer"
)

// Bounds on the fleet's waits.
const (
	// JobStopTimeout is how long a job is expected to take to finalise its
	// segment and send TEARDOWN; SIGTERM must end the process within 10 s
	// (issue 5), so Close's caller gives it about this much.
	JobStopTimeout = 6 * time.Second
	// logBuffer is the log subscriber's buffer: the log falls behind only
	// when stderr blocks, and then recording must not.
	logBuffer = 1024
	// retentionBuffer is the retention loop's: any event it keeps is
	// only "look again", so a few suffice.
	retentionBuffer = 64
)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("fleet: closed")

// Options configure Open. Every field is optional.
type Options struct {
	// Logger receives the fleet's log lines; default slog.Default().
	Logger *slog.Logger
	// Clock drives the schedules; default schedule.SystemClock().
	Clock schedule.Clock
	// InitData lets Open initialise a data directory that lacks nvr's
	// marker (nvr serve -init). Without it such a directory is refused:
	// it may be a disk that failed to mount (RELIABILITY F6).
	InitData bool
	// PrepareJob, if set, adjusts each job's config and collaborators just
	// before the job is created: the load tool sets timeouts and times
	// the index calls, tests inject fake sessions. Deps.OnChange is the
	// fleet's and is set afterwards.
	PrepareJob func(cfg *recorder.Config, deps *recorder.Deps)
	// LeaseTTL is how long a camera lease lasts without renewal on a
	// shared PostgreSQL index (default DefaultLeaseTTL); tests shorten it.
	LeaseTTL time.Duration
}

// Fleet is a running set of camera jobs over one data directory.
type Fleet struct {
	opts   Options
	log    *slog.Logger
	store  *storage.Store
	runner *schedule.Runner
	hub    hub

	jobCtx     context.Context // parent of every job
	cancelJobs context.CancelFunc
	loopCtx    context.Context // the runner's and retention's; cancelled by Close
	cancelLoop context.CancelFunc
	jobs       sync.WaitGroup // job goroutines
	loops      sync.WaitGroup // owner, runner, retention
	logDone    chan struct{}

	applyc    chan applyReq
	wake      chan struct{} // capacity 1: something changed, look again
	quit      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error

	deleted atomic.Uint64 // segments deleted by retention

	// uploads moves finished segments to storage.s3's bucket; nil
	// without one. The upload loop owns the calls.
	uploads *uploader

	// Leases, with index.postgres: nil on SQLite, where the one node
	// records every camera. The lease loop owns the calls.
	leases     *storage.Leases
	node       string
	leaseTTL   time.Duration
	takeovers  atomic.Uint64
	pauseRenew atomic.Bool       // tests: a node that stopped renewing (paused, partitioned)
	holders    map[string]string // camera -> node, as of the last lease round; guarded by mu

	mu      sync.Mutex
	cfg     *config.Config
	cams    map[string]*camera
	closing bool
}

// camera is one configured camera; guarded by Fleet.mu.
type camera struct {
	cfg     config.Camera
	rec     recorder.Config
	want    bool // its window is open (the schedule runner's hooks)
	removed bool // gone from the config; forgotten once its job ended
	restart bool // new recording settings: the running job ends, then a new one starts
	run     *jobRun
	totals  recorder.Status // counters of ended jobs, so metrics stay monotonic

	shown     view // what was last published
	published bool

	// live is the camera's live picture, fed by its jobs; it lives as long
	// as the camera is in the config.
	live *live.Stream
	// watchers counts live's viewers.
	watchers
	// sub is the camera's sub stream (config sub_url).
	sub subStream
}

// watchers is one stream's live viewer count; lingerUntil is when a
// session open only for viewers may close after the last one left.
type watchers struct {
	viewers     int
	lingerUntil time.Time
	lingerTimer *time.Timer // wakes the owner when the linger ends

	// lease is the camera's lease (Token 0: none); leaseUntil its local
	// expiry, when recording stops unless renewed; giveBack: to be
	// released once its job has ended (lease.go).
	lease      storage.Lease
	leaseUntil time.Time
	leaseTimer *time.Timer
	giveBack   bool
}

// watched reports whether the stream has viewers or is lingering.
func (w *watchers) watched(now time.Time) bool { return w.viewers > 0 || now.Before(w.lingerUntil) }

// subStream is a camera's second stream: its own live picture and its own
// session, recording in the camera's windows with record_sub and otherwise
// live-only while someone watches it. Its failures are its own: they never
// touch the main stream's job.
type subStream struct {
	live *live.Stream // lives as long as the camera does, like camera.live
	watchers
	rec     recorder.Config // its job's settings (Prepare), valid when the camera has a sub_url
	run     *jobRun
	restart bool // new sub stream settings: the running session ends, then a new one starts

	shown     subView
	published bool
}

// recording reports whether the sub stream's session records (its writes
// carry the camera's lease until it ends).
func (s *subStream) recording() bool { return s.run != nil && !s.run.liveOnly }

// jobRun is one job of a camera, from its start to the end of its Run.
type jobRun struct {
	liveOnly  bool        // records nothing: connected for live viewers outside a window
	token     int64       // the lease token its writes carry (0: no lease)
	sub       bool        // the sub stream's session (live-only, or recording with record_sub)
	flowing   atomic.Bool // sub: its current session has handed over a frame
	cancel    context.CancelFunc
	job       *recorder.Job   // nil until created (after the SDP is loaded)
	last      recorder.Status // as of its last change
	stopping  bool            // cancelled; Run has not returned yet
	done      bool            // Run returned (or the job never started)
	final     recorder.Status // its status when done
	stopTimer *time.Timer     // logs a job slow to stop
}

type applyReq struct {
	cfg      *config.Config
	prepared map[string]prepared
	done     chan struct{}
}

// prepared is what Prepare derives from a camera's config.
type prepared struct {
	rec, subRec recorder.Config // subRec only with a sub_url
	sched       *schedule.Schedule
}

// Open opens the index in cfg.DataDir, recovers segments a crash left
// behind, and starts recording cfg's cameras in their windows. ctx bounds
// opening only; Close stops the fleet.
func Open(ctx context.Context, cfg *config.Config, opts Options) (*Fleet, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = schedule.SystemClock()
	}
	objects, err := OpenObjects(cfg)
	if err != nil {
		return nil, err
	}
	// A segment still on another node's disk is read from that node's
	// API, with this node's token (the nodes share api.token).
	peers := &peer.Client{Token: cfg.API.Token}
	store, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: !opts.InitData, Postgres: cfg.Index.Postgres,
		Node: nodeOf(cfg), NodeURL: cfg.AdvertiseURL, Peer: peers.Open, Objects: objects})
	if errors.Is(err, storage.ErrNotDataDir) && !opts.InitData {
		return nil, fmt.Errorf("opening data dir: %w; if this is a new data_dir, start once with -init", err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening data dir: %w", err)
	}
	rep, err := store.Recover(ctx, recoverSegment)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("recovering segments: %w", err)
	}
	opts.Logger.Info("index ready", slog.String("data_dir", cfg.DataDir), slog.Any("index", cfg.Index), slog.Any("recovery", rep))

	f := &Fleet{
		opts:    opts,
		log:     opts.Logger,
		store:   store,
		logDone: make(chan struct{}),
		applyc:  make(chan applyReq),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		cams:    make(map[string]*camera),
	}
	if objects != nil {
		f.uploads = &uploader{objects: objects}
	}
	if cfg.Index.Postgres != "" {
		if f.leases, err = store.Leases(cfg.Node); err != nil {
			store.Close()
			return nil, err
		}
		f.node, f.leaseTTL = cfg.Node, opts.LeaseTTL
		if f.leaseTTL <= 0 {
			f.leaseTTL = DefaultLeaseTTL
		}
	}
	f.runner = schedule.NewRunner(opts.Clock, schedule.Hooks{Start: f.windowOpened, Stop: f.windowClosed})
	p, err := f.prepare(ctx, cfg, nil)
	if err != nil {
		store.Close()
		return nil, err
	}
	f.jobCtx, f.cancelJobs = context.WithCancel(context.Background())
	f.loopCtx, f.cancelLoop = context.WithCancel(context.Background())

	logs := f.hub.subscribe(logBuffer)
	go func() {
		defer close(f.logDone)
		logEvents(f.log, logs)
	}()
	retention := f.hub.subscribe(retentionBuffer)
	f.loops.Add(3)
	go func() {
		defer f.loops.Done()
		f.own()
	}()
	go func() {
		defer f.loops.Done()
		if err := f.runner.Run(f.loopCtx); err != nil && !errors.Is(err, context.Canceled) {
			f.log.Error("schedule runner", slog.Any("err", err))
		}
	}()
	go func() {
		defer f.loops.Done()
		f.retentionLoop(f.loopCtx, retention)
	}()
	f.send(applyReq{cfg: cfg, prepared: p, done: make(chan struct{})})
	if f.uploads != nil {
		sub := f.hub.subscribe(uploadBuffer)
		f.loops.Add(1)
		go func() {
			defer f.loops.Done()
			f.uploadLoop(f.loopCtx, sub)
		}()
	}
	if f.leases != nil {
		f.loops.Add(1)
		go func() {
			defer f.loops.Done()
			f.leaseLoop(f.loopCtx)
		}()
	}
	return f, nil
}

// nodeOf is the node name the index scopes this data dir's rows to: only
// a shared (PostgreSQL) index has several nodes.
func nodeOf(cfg *config.Config) string {
	if cfg.Index.Postgres == "" {
		return ""
	}
	return cfg.Node
}

// Store returns the fleet's index (for the API and exports). It is closed
// by Close.
func (f *Fleet) Store() *storage.Store { return f.store }

// Location returns the time zone of the config in force.
func (f *Fleet) Location() *time.Location {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.Location()
}

// Subscribe returns a subscription to every event from now on, with a
// buffer of buf events (DefaultBuffer if buf <= 0, at most MaxBuffer). A
// subscriber that does not keep up misses events (see Missed); it never
// slows recording down.
func (f *Fleet) Subscribe(buf int) *Subscription { return f.hub.subscribe(buf) }

// Prepare checks that cfg can be applied — every camera's recording
// settings and schedule, and an unchanged data_dir and index — and creates index
// rows for new cameras. Apply does the same; Prepare lets a caller check
// before committing other parts of a reload.
func (f *Fleet) Prepare(ctx context.Context, cfg *config.Config) error {
	f.mu.Lock()
	old := f.cfg
	f.mu.Unlock()
	_, err := f.prepare(ctx, cfg, old)
	return err
}

// old is the config in force (nil at Open): data_dir, index and
// storage.s3 cannot change without a restart.
func (f *Fleet) prepare(ctx context.Context, cfg *config.Config, old *config.Config) (map[string]prepared, error) {
	if old != nil && cfg.DataDir != old.DataDir {
		return nil, fmt.Errorf("data_dir cannot change without a restart")
	}
	if old != nil && cfg.Index != old.Index {
		return nil, fmt.Errorf("index cannot change without a restart")
	}
	if old != nil && !sameS3(cfg.Storage.S3, old.Storage.S3) {
		return nil, fmt.Errorf("storage.s3 cannot change without a restart")
	}
	// Cameras the index already has under the same name need no write
	// (a load test adding cameras one at a time would otherwise write
	// every camera's row on each step).
	f.mu.Lock()
	known := make(map[string]string, len(f.cams))
	for id, c := range f.cams {
		known[id] = c.cfg.Name
	}
	f.mu.Unlock()
	out := make(map[string]prepared, len(cfg.Cameras))
	for _, cc := range cfg.Cameras {
		rc := recorderConfig(cfg, cc)
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("camera %s: %w", cc.ID, err)
		}
		var subRC recorder.Config
		if cc.SubURL != "" {
			subRC = subRecorderConfig(cfg, cc)
			if err := subRC.Validate(); err != nil {
				return nil, fmt.Errorf("camera %s: sub stream: %w", cc.ID, err)
			}
		}
		sched, err := cfg.Schedule(cc)
		if err != nil {
			return nil, fmt.Errorf("camera %s: schedule: %w", cc.ID, err)
		}
		if name, ok := known[cc.ID]; !ok || name != cc.Name {
			if err := f.store.EnsureCamera(ctx, cc.ID, cc.Name); err != nil {
				return nil, err
			}
		}
		out[cc.ID] = prepared{rec: rc, subRec: subRC, sched: sched}
	}
	return out, nil
}

// Apply makes cfg the configuration in force. Cameras whose recording
// settings did not change keep recording (a new name, schedule or max_age
// applies at once); changed ones end their segment and start again;
// removed ones stop. A config that fails Prepare is refused whole. Apply
// returns once the change is made; jobs stop and start in the background.
func (f *Fleet) Apply(ctx context.Context, cfg *config.Config) error {
	f.mu.Lock()
	old := f.cfg
	f.mu.Unlock()
	p, err := f.prepare(ctx, cfg, old)
	if err != nil {
		return err
	}
	req := applyReq{cfg: cfg, prepared: p, done: make(chan struct{})}
	select {
	case f.applyc <- req:
	case <-f.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-req.done // the owner does no I/O while applying
	return nil
}

// send hands the first config to the owner (Open, before anyone else can).
func (f *Fleet) send(req applyReq) {
	f.applyc <- req
	<-req.done
}

// Close stops every job — all at once, so they finalise in parallel —
// waits for them until ctx is done, then closes the index. Events up to
// the last job's end are delivered; subscriptions are closed.
func (f *Fleet) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		close(f.quit)
		f.cancelLoop()
		f.loops.Wait() // the owner cancels every job on its way out
		done := make(chan struct{})
		go func() { f.jobs.Wait(); close(done) }()
		var errs []error
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("fleet: some camera jobs did not stop in time: %w", ctx.Err()))
		}
		if f.leases != nil && !f.pauseRenew.Load() {
			// The jobs have ended: the others may take the cameras now
			// rather than after the TTL. (Bounded by the DB timeouts.)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.leaseTTL)
			f.releaseAll(rctx)
			cancel()
		}
		f.hub.close()
		f.mu.Lock()
		for _, c := range f.cams {
			c.live.Close()
			c.sub.live.Close()
			for _, w := range []*watchers{&c.watchers, &c.sub.watchers} {
				if w.lingerTimer != nil {
					w.lingerTimer.Stop()
				}
			}
			if c.leaseTimer != nil {
				c.leaseTimer.Stop()
			}
		}
		f.mu.Unlock()
		<-f.logDone
		if err := f.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing index: %w", err))
		}
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}

// Live returns the live picture of camera id, or nil for an unknown one.
// A camera's picture flows while its job records.
func (f *Fleet) Live(id string) *live.Stream {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.cams[id]; c != nil && !c.removed {
		return c.live
	}
	return nil
}

// LiveSub returns the live picture of camera id's sub stream, or nil for
// an unknown camera or one without a sub_url. Watching it opens the sub
// stream's session (and live_linger after the last viewer, closes it).
func (f *Fleet) LiveSub(id string) *live.Stream {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.cams[id]; c != nil && !c.removed && c.cfg.SubURL != "" {
		return c.sub.live
	}
	return nil
}

// viewersChanged notes a stream's live viewer count; when the last viewer
// leaves, the stream may stay connected for live_linger. It returns at
// once (live.Stream.OnViewers).
func (f *Fleet) viewersChanged(c *watchers, n int) {
	f.mu.Lock()
	if n == 0 && c.viewers > 0 {
		linger := time.Duration(0)
		if f.cfg != nil {
			linger = f.cfg.LiveLinger.D()
		}
		c.lingerUntil = time.Now().Add(linger)
		if c.lingerTimer != nil {
			c.lingerTimer.Stop()
		}
		if linger > 0 {
			// Wake the owner when the linger ends (Close stops it).
			c.lingerTimer = time.AfterFunc(linger+10*time.Millisecond, f.poke)
		}
	}
	c.viewers = n
	f.mu.Unlock()
	f.poke()
}

// poke wakes the owner.
func (f *Fleet) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// windowOpened and windowClosed are the schedule runner's hooks: they
// note the change and return at once (schedule.Hooks).
func (f *Fleet) windowOpened(id string) { f.setWant(id, true) }
func (f *Fleet) windowClosed(id string) { f.setWant(id, false) }

func (f *Fleet) setWant(id string, want bool) {
	f.mu.Lock()
	if c := f.cams[id]; c != nil {
		c.want = want
	}
	f.mu.Unlock()
	f.poke()
}

// own is the owner goroutine: it alone starts and stops jobs.
func (f *Fleet) own() {
	for {
		select {
		case req := <-f.applyc:
			f.apply(req)
			close(req.done)
		case <-f.wake:
			f.mu.Lock()
			lines := f.reconcile()
			f.mu.Unlock()
			f.logLines(lines)
		case <-f.quit:
			f.mu.Lock()
			f.closing = true
			lines := f.reconcile()
			f.mu.Unlock()
			f.cancelJobs()
			f.logLines(lines)
			return
		}
	}
}

// logLine is a line the owner logs once it has let go of f.mu, so a slow
// log never holds up a job reporting a change.
type logLine struct {
	level  slog.Level
	msg    string
	camera string
}

func (f *Fleet) logLines(lines []logLine) {
	for _, l := range lines {
		f.log.Log(context.Background(), l.level, l.msg, slog.String("camera", l.camera))
	}
}

// apply commits a prepared config, computing what changed with
// config.Diff.
func (f *Fleet) apply(req applyReq) {
	f.mu.Lock()
	old := f.cfg
	if old == nil {
		old = &config.Config{}
	}
	ch := config.Diff(old, req.cfg)
	f.cfg = req.cfg
	var lines []logLine
	for _, id := range ch.Removed {
		if c := f.cams[id]; c != nil {
			c.removed = true
		}
		f.runner.Remove(id)
		lines = append(lines, logLine{slog.LevelInfo, "camera removed", id})
	}
	restart := make(map[string]bool, len(ch.Restart))
	for _, id := range ch.Restart {
		restart[id] = true
		lines = append(lines, logLine{slog.LevelInfo, "camera settings changed", id})
	}
	restartSub := make(map[string]bool, len(ch.RestartSub))
	for _, id := range ch.RestartSub {
		restartSub[id] = true
		lines = append(lines, logLine{slog.LevelInfo, "camera sub stream settings changed", id})
	}
	for _, cc := range req.cfg.Cameras {
		p := req.prepared[cc.ID]
		c := f.cams[cc.ID]
		switch {
		case c == nil:
			c = &camera{live: live.NewStream(nil)}
			c.sub.live = live.NewStream(nil)
			cam := c
			c.live.OnViewers(func(n int) { f.viewersChanged(&cam.watchers, n) })
			c.sub.live.OnViewers(func(n int) { f.viewersChanged(&cam.sub.watchers, n) })
			f.cams[cc.ID] = c
		case c.removed:
			// Added back while the job of its removal may still be
			// finalising: that one ends before a new one starts.
			c.removed, c.restart, c.sub.restart = false, true, true
		default:
			c.restart = c.restart || restart[cc.ID]
			c.sub.restart = c.sub.restart || restartSub[cc.ID]
		}
		c.cfg, c.rec, c.sub.rec = cc, p.rec, p.subRec
		if cc.IsEnabled() {
			f.runner.Set(cc.ID, p.sched) // a no-op for an unchanged schedule
		} else {
			f.runner.Remove(cc.ID)
		}
		if !c.published {
			// New here: the runner may know the camera from before its
			// removal, still active and with no hook to call.
			c.want, _ = f.runner.State(cc.ID)
		}
	}
	lines = append(f.reconcile(), lines...)
	f.mu.Unlock()
	f.logLines(lines)
}

// reconcile starts and stops jobs so that each camera records exactly when
// it should; the caller holds f.mu. It never waits.
func (f *Fleet) reconcile() []logLine {
	var lines []logLine
	for id, c := range f.cams {
		if r := c.run; r != nil && r.done {
			c.totals = addTotals(c.totals, r.final)
			c.run = nil
		}
		if r := c.sub.run; r != nil && r.done {
			c.sub.run = nil
		}
		if c.removed && c.run == nil && c.sub.run == nil {
			c.live.Close()
			c.sub.live.Close()
			delete(f.cams, id)
			continue
		}
		enabled := c.cfg.IsEnabled() && !c.removed && !f.closing
		on := enabled && f.holds(c)
		record := c.want && on
		now := time.Now()
		// Outside its windows, or on a node that does not hold its lease
		// (another node records it, or none outside the windows), a camera
		// is connected, recording nothing, while someone watches it live
		// here and a little while after. Live view writes nothing, so it
		// needs no lease.
		watch := !record && enabled && c.watched(now)
		if r := c.run; r != nil && !r.stopping && (c.restart || r.token != c.lease.Token || (r.liveOnly && !watch) || (!r.liveOnly && !record)) {
			f.stop(id, r)
		}
		if c.run == nil {
			c.restart = false
			switch {
			case record:
				f.launch(id, c, false)
				lines = append(lines, logLine{slog.LevelInfo, "recording window open", id})
			case watch:
				f.launch(id, c, true)
				lines = append(lines, logLine{slog.LevelInfo, "connecting for live viewers outside the recording window", id})
			}
		}
		f.updateView(id, c)
		hasSub := c.cfg.SubURL != ""
		lines = append(lines, f.reconcileSub(id, c, hasSub && record && c.cfg.RecordSub, enabled && hasSub && c.sub.watched(now))...)
	}
	return lines
}

// reconcileSub runs the sub stream's session: recording while record
// (record_sub, in the camera's window, with its lease), else live only
// while it is watched, else none; the caller holds f.mu. It never waits.
// A session of the wrong kind ends before the other kind starts, so the
// sub stream never has two sessions.
func (f *Fleet) reconcileSub(id string, c *camera, record, watch bool) []logLine {
	var lines []logLine
	s := &c.sub
	if r := s.run; r != nil && !r.stopping && (s.restart || (r.liveOnly && (record || !watch)) ||
		(!r.liveOnly && (!record || r.token != c.lease.Token))) {
		f.stop(id, r)
	}
	if s.run == nil {
		s.restart = false
		switch {
		case record:
			f.launchSub(id, c, false)
			lines = append(lines, logLine{slog.LevelInfo, "recording the sub stream", id})
		case watch:
			f.launchSub(id, c, true)
			lines = append(lines, logLine{slog.LevelInfo, "connecting to the sub stream for live viewers", id})
		}
	}
	f.updateSubView(id, c)
	return lines
}

// stop cancels a job; it finalises its segment on its own goroutine and
// tells the owner when it is done.
func (f *Fleet) stop(id string, r *jobRun) {
	r.stopping = true
	r.cancel()
	r.stopTimer = time.AfterFunc(JobStopTimeout, func() {
		f.log.Error("camera job did not stop in time", slog.String("camera", id))
	})
}
