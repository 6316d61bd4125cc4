package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nvr-project/nvr/api"
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/footage"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/schedule"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// Bounds on how long shutdown steps may take: SIGTERM must end the process
// within 10 s (issue 5), so each step gets a share of that.
const (
	jobStopTimeout      = 6 * time.Second // every job finalises its segment and sends TEARDOWN
	httpShutdownTimeout = 2 * time.Second // in-flight API requests finish
	retentionInterval   = time.Minute     // the regular retention pass (issue 5)
	freeSpaceInterval   = 5 * time.Second // how often free space is checked between passes
	statusPollInterval  = time.Second     // how often job states are read for the log
)

// service is a running nvr: the index, one recording job per camera in its
// schedule window, retention, and the HTTP API. One goroutine (run) owns
// the lifecycle; camera jobs are started and stopped through the schedule
// runner's hooks and always waited for.
type service struct {
	log      *slog.Logger
	store    *storage.Store
	runner   *schedule.Runner
	exporter *footage.Exporter
	registry *prometheus.Registry
	metrics  *metrics
	apiH     swapHandler

	jobCtx context.Context // parent of every job; cancelled at shutdown
	jobWG  sync.WaitGroup

	retentionKick chan struct{}

	mu   sync.Mutex
	cfg  *config.Config
	cams map[string]*camera // by id; also cameras that are disabled
}

// camera is one configured camera and its current job, if any.
type camera struct {
	cfg      config.Camera
	rec      recorder.Config
	job      *recorder.Job // the running job, or the last one (for its counters)
	cancel   context.CancelFunc
	done     chan struct{}
	lastSeen recorder.Status // what was last logged
	totals   recorder.Status // counters of finished jobs, so metrics stay monotonic
}

// newService opens the index, recovers what a crash left behind and wires
// the components. It starts nothing: run does.
//
// Unless initData is set, the data directory must already carry nvr's
// marker: an empty directory may be a disk that failed to mount, and
// recording into it would fill the root filesystem (RELIABILITY F6).
func newService(ctx context.Context, cfg *config.Config, log *slog.Logger, initData bool) (*service, error) {
	return newServiceClock(ctx, cfg, log, initData, schedule.SystemClock())
}

// newServiceClock is newService with the schedule's clock injected (tests).
func newServiceClock(ctx context.Context, cfg *config.Config, log *slog.Logger, initData bool, clock schedule.Clock) (*service, error) {
	store, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: !initData})
	if errors.Is(err, storage.ErrNotDataDir) && !initData {
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
	log.Info("index ready", slog.String("data_dir", cfg.DataDir), slog.Any("recovery", rep))

	s := &service{
		log:           log,
		store:         store,
		registry:      prometheus.NewRegistry(),
		retentionKick: make(chan struct{}, 1),
		cams:          make(map[string]*camera),
	}
	s.exporter = footage.New(store, s.location)
	s.metrics = newMetrics(s)
	s.registry.MustRegister(s.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.runner = schedule.NewRunner(clock, schedule.Hooks{Start: s.startJob, Stop: s.stopJob})
	if err := s.apply(ctx, cfg); err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

// recoverSegment adapts fmp4.Recover to the index's recovery.
func recoverSegment(path string) (storage.RecoveredFile, error) {
	info, err := fmp4.Recover(path)
	if err != nil {
		return storage.RecoveredFile{}, err
	}
	rf := storage.RecoveredFile{
		Bytes:       info.ValidSize,
		Frames:      int64(len(info.Samples)),
		Keyframes:   int64(info.Keyframes),
		Duration90k: to90k(info.Duration, info.Timescale),
		Width:       info.Params.Width,
		Height:      info.Params.Height,
	}
	if len(info.Params.SPS) >= 4 {
		rf.Codec = fmt.Sprintf("avc1.%02x%02x%02x", info.Params.SPS[1], info.Params.SPS[2], info.Params.SPS[3])
	}
	return rf, nil
}

// to90k converts a duration in timescale units to 90 kHz ticks (nvr's own
// segments are 90 kHz already; an orphan file from elsewhere may not be).
func to90k(d int64, timescale uint32) int64 {
	if timescale == 0 || timescale == 90000 {
		return d
	}
	return d/int64(timescale)*90000 + d%int64(timescale)*90000/int64(timescale)
}

// apply makes cfg the configuration in force: the API handler, retention,
// and the set of cameras. Cameras whose settings did not change keep their
// job running; changed ones are restarted; removed ones stopped.
func (s *service) apply(ctx context.Context, cfg *config.Config) error {
	type change struct {
		id    string
		sched *schedule.Schedule
		cam   *camera
	}
	var set []change
	seen := make(map[string]bool)
	for _, cc := range cfg.Cameras {
		seen[cc.ID] = true
		rc := recorderConfig(cfg, cc)
		if err := rc.Validate(); err != nil {
			return fmt.Errorf("camera %s: %w", cc.ID, err)
		}
		sched, err := cfg.Schedule(cc)
		if err != nil {
			return fmt.Errorf("camera %s: schedule: %w", cc.ID, err)
		}
		if err := s.store.EnsureCamera(ctx, cc.ID, cc.Name); err != nil {
			return err
		}
		set = append(set, change{id: cc.ID, sched: sched, cam: &camera{cfg: cc, rec: rc}})
	}

	// Built last among the checks: it takes over the API metrics of the
	// handler in force, so a config refused for a camera must not get here.
	h, err := api.New(api.Options{
		Store:      s.store,
		Cameras:    s,
		Exporter:   s.exporter,
		Metrics:    promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}),
		Registerer: replacingRegisterer{s.registry},
		Tokens:     apiTokens(cfg),
		// Without tokens the API is on loopback: answer only to loopback
		// names, so a DNS-rebinding page cannot read it via a browser.
		AllowedHosts: loopbackHosts(cfg),
		MaxExport:    cfg.API.MaxExport.D(),
		Location:     cfg.Location(),
		Logger:       s.log,
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	// The new configuration is valid: from here on nothing fails.
	s.apiH.set(h)
	s.mu.Lock()
	s.cfg = cfg
	var removed []string
	for id := range s.cams {
		if !seen[id] {
			removed = append(removed, id)
		}
	}
	s.mu.Unlock()
	for _, id := range removed {
		// Stop here rather than through the runner's hook, which runs
		// later on its own goroutine, after the camera is forgotten.
		s.stopJob(id)
		s.runner.Remove(id)
		s.mu.Lock()
		delete(s.cams, id)
		s.mu.Unlock()
		s.log.Info("camera removed", slog.String("camera", id))
	}
	for _, c := range set {
		s.mu.Lock()
		old := s.cams[c.id]
		same := old != nil && sameRecording(old, c.cam)
		switch {
		case old == nil:
			s.cams[c.id] = c.cam
		case same:
			old.cfg = c.cam.cfg // name and schedule change without a restart
		}
		s.mu.Unlock()
		if old != nil && !same {
			// New settings: the running job (if any) ends its segment
			// and a new job starts if the camera is inside a window.
			s.stopJob(c.id)
			s.mu.Lock()
			c.cam.totals = old.totals
			s.cams[c.id] = c.cam
			s.mu.Unlock()
			s.log.Info("camera settings changed", slog.String("camera", c.id))
		}
		if !c.cam.cfg.IsEnabled() {
			s.runner.Remove(c.id)
			continue
		}
		s.runner.Set(c.id, c.sched)
		if old != nil && !same {
			if active, _ := s.runner.State(c.id); active {
				s.startJob(c.id)
			}
		}
	}
	return nil
}

// sameRecording reports whether a camera's job can keep running across a
// reload: same stream, same segmenting, still enabled.
func sameRecording(old, cur *camera) bool {
	return old.cfg.SameStream(cur.cfg) && old.cfg.IsEnabled() == cur.cfg.IsEnabled() &&
		old.rec.SegmentDuration == cur.rec.SegmentDuration && old.rec.FsyncInterval == cur.rec.FsyncInterval
}

func recorderConfig(cfg *config.Config, cc config.Camera) recorder.Config {
	return recorder.Config{
		Camera: cc.ID,
		RTSP: rtsp.Config{
			URL:            cc.URL,
			Transport:      cc.Transport,
			Auth:           cc.Auth,
			TLSFingerprint: cc.TLSFingerprint,
		},
		SegmentDuration: cfg.SegmentDuration.D(),
		FsyncInterval:   cfg.FsyncInterval.D(),
	}.WithDefaults()
}

func apiTokens(cfg *config.Config) []api.Token {
	var out []api.Token
	if cfg.API.Token != "" {
		out = append(out, api.Token{Value: cfg.API.Token})
	}
	for _, t := range cfg.API.Tokens {
		out = append(out, api.Token{Value: t.Token, Cameras: t.Cameras})
	}
	return out
}

// loopbackHosts lists the Host names a token-less API answers to, with
// api.allowed_hosts; with tokens, nil (any Host) unless allowed_hosts is set.
func loopbackHosts(cfg *config.Config) []string {
	if len(apiTokens(cfg)) > 0 && len(cfg.API.AllowedHosts) == 0 {
		return nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	return append(hosts, cfg.API.AllowedHosts...)
}

// startJob is the schedule runner's Start hook.
func (s *service) startJob(id string) {
	s.mu.Lock()
	c := s.cams[id]
	if c == nil || c.cancel != nil {
		s.mu.Unlock()
		return
	}
	rc, sdpSrc := c.rec, c.cfg.SDP
	s.mu.Unlock()
	if sdpSrc != "" {
		// Fetched outside the lock: an HTTP source may take its timeout.
		sdp, err := rtsp.LoadSDP(s.jobCtx, sdpSrc)
		if err != nil {
			s.log.Error("loading out-of-band SDP; using DESCRIBE", slog.String("camera", id), slog.Any("err", err))
		} else {
			rc.RTSP.SDP = sdp
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cams[id] != c || c.cancel != nil {
		return // replaced or started meanwhile
	}
	job, err := recorder.NewJob(rc, recorder.Deps{Store: retentionTrigger{s.store, s.kickRetention}})
	if err != nil { // validated in apply; only a bug gets here
		s.log.Error("cannot start camera", slog.String("camera", id), slog.Any("err", err))
		return
	}
	ctx, cancel := context.WithCancel(s.jobCtx)
	done := make(chan struct{})
	c.job, c.cancel, c.done = job, cancel, done
	s.log.Info("recording window open", slog.String("camera", id))
	s.jobWG.Add(1)
	go func() {
		defer s.jobWG.Done()
		defer close(done)
		if err := job.Run(ctx); err != nil {
			s.log.Error("camera job ended", slog.String("camera", id), slog.Any("err", err))
		}
	}()
}

// stopJob is the schedule runner's Stop hook: it cancels the job and waits
// until its segment is finalised and the session torn down.
func (s *service) stopJob(id string) {
	s.mu.Lock()
	c := s.cams[id]
	if c == nil || c.cancel == nil {
		s.mu.Unlock()
		return
	}
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	s.mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-time.After(jobStopTimeout):
		s.log.Error("camera job did not stop in time", slog.String("camera", id))
	}
	s.mu.Lock()
	c.totals = addTotals(c.totals, c.job.Status())
	c.job = nil
	s.mu.Unlock()
	s.log.Info("recording stopped", slog.String("camera", id))
}

// Cameras implements api.Cameras.
func (s *service) Cameras() []api.CameraStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]api.CameraStatus, 0, len(s.cfg.Cameras))
	for _, cc := range s.cfg.Cameras {
		c := s.cams[cc.ID]
		if c == nil {
			continue
		}
		st := api.CameraStatus{ID: cc.ID, Name: cc.Name}
		switch {
		case !c.cfg.IsEnabled():
			st.State = "disabled"
		case c.job != nil && c.cancel != nil:
			js := c.job.Status()
			st.State, st.LastError = apiState(js.State), js.LastError
			st.RecordingSince = js.RecordingSince
		default:
			st.State = "idle"
			_, st.NextWindow = s.runner.State(cc.ID)
		}
		out = append(out, st)
	}
	return out
}

// apiState maps a job state to the API's vocabulary: a job that is
// connecting or waiting for a keyframe is not recording yet.
func apiState(s recorder.State) string {
	switch s {
	case recorder.StateRecording:
		return "recording"
	case recorder.StateStopped:
		return "idle"
	default:
		return "retrying"
	}
}

// run serves until ctx is cancelled, then shuts everything down in order:
// API, schedule and jobs (segments finalised), retention, the index.
func (s *service) run(ctx context.Context, reload <-chan struct{}, reloadFn func() (*config.Config, error)) error {
	s.mu.Lock()
	listen := s.cfg.Listen
	s.mu.Unlock()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		s.store.Close()
		return fmt.Errorf("listen: %w", err)
	}
	ln = api.WrapListener(ln) // net/http's own 400 and 431 answers in JSON too
	s.log.Info("API listening", slog.String("addr", ln.Addr().String()))
	srv := api.NewServer(listen, &s.apiH)

	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	s.jobCtx = jobCtx
	runCtx, cancelRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(4)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errc <- fmt.Errorf("http: %w", err):
			default:
			}
			cancelRun()
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.runner.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("schedule runner", slog.Any("err", err))
		}
	}()
	go func() {
		defer wg.Done()
		s.retentionLoop(runCtx)
	}()
	go func() {
		defer wg.Done()
		s.watchStates(runCtx)
	}()

loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-reload:
			cfg, err := reloadFn()
			if err == nil {
				err = s.checkReload(cfg)
			}
			if err == nil {
				err = s.apply(runCtx, cfg)
			}
			if err != nil {
				s.log.Error("config reload refused; the old config stays in force", slog.Any("err", err))
				continue
			}
			s.log.Info("config reloaded", slog.Int("cameras", len(cfg.Cameras)))
		}
	}

	s.log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	_ = srv.Shutdown(shCtx)
	cancel()
	// Cancel every job at once so they finalise in parallel; the runner's
	// Stop hooks then only wait for each to be done.
	cancelJobs()
	cancelRun()
	wg.Wait()
	if !waitTimeout(&s.jobWG, jobStopTimeout) {
		s.log.Error("some camera jobs did not stop in time")
	}
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("closing index: %w", err)
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	s.log.Info("stopped")
	return nil
}

// checkReload refuses changes a reload cannot apply while running.
func (s *service) checkReload(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.DataDir != s.cfg.DataDir {
		return fmt.Errorf("data_dir cannot change without a restart")
	}
	if cfg.Listen != s.cfg.Listen {
		return fmt.Errorf("listen cannot change without a restart")
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// watchStates logs each camera's state changes: one line per change, never
// one per packet.
func (s *service) watchStates(ctx context.Context) {
	t := time.NewTicker(statusPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for id, c := range s.cams {
			if c.job == nil {
				continue
			}
			st := c.job.Status()
			if st.State != c.lastSeen.State || st.LastError != c.lastSeen.LastError {
				attrs := []any{slog.String("camera", id), slog.String("state", string(st.State))}
				if st.LastError != "" {
					attrs = append(attrs, slog.String("err", st.LastError))
				}
				if st.State == recorder.StateRetrying {
					attrs = append(attrs, slog.Time("next_retry", st.NextRetry))
					s.log.Warn("camera state", attrs...)
				} else {
					s.log.Info("camera state", attrs...)
				}
				if st.State == recorder.StateRetrying && isDiskFull(st.LastError) {
					s.kickRetention()
				}
			}
			if st.TimeJumps > c.lastSeen.TimeJumps {
				// RELIABILITY R15: the camera's RTP clock jumped; the
				// recorder closed the segment and started a new run.
				s.log.Warn("camera timestamps jumped; new run started", slog.String("camera", id),
					slog.Uint64("jumps", st.TimeJumps))
			}
			c.lastSeen = st
		}
		s.mu.Unlock()
	}
}

// swapHandler lets a reload replace the API handler atomically.
type swapHandler struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *swapHandler) set(h http.Handler) { s.mu.Lock(); s.h = h; s.mu.Unlock() }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	h.ServeHTTP(w, r)
}

// location is the configured time zone (for export timestamps).
func (s *service) location() *time.Location {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Location()
}

// replacingRegisterer lets a reloaded API handler take over the metrics of
// the one it replaces (Prometheus sees a counter reset, not a clash).
type replacingRegisterer struct{ *prometheus.Registry }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registry.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registry.Unregister(are.ExistingCollector)
		err = r.Registry.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}
