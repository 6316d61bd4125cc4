package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/fleet"
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage"
)

// Modes of a run.
const (
	ModeRecord   = "record"   // every camera recorded by a fleet.Fleet, as nvr serve does
	ModeBaseline = "baseline" // one RTSP client per camera that only reads packets
)

const (
	// maxCameras bounds -cameras: each camera is a server, two
	// connections' worth of file descriptors and four goroutines, and
	// beyond this the run measures the scheduler, not the recorder.
	maxCameras = 2000

	// maxDuration bounds -duration: at 4 Mbit/s a camera writes 30 MB a
	// minute, so an hour of 100 cameras would fill 180 GB.
	maxDuration = time.Hour

	// mediaTimeout replaces the 10 s defaults of the RTSP client and the
	// job's stall watchdog: the cameras stall on purpose at the end of the
	// run, and a busy machine may delay the drain, so neither may fire
	// while the run is being wound down.
	mediaTimeout = 2 * time.Minute

	// pollInterval is how often the drain looks at the counters.
	pollInterval = 100 * time.Millisecond

	// heldBack is how many access units a recorder.Job may keep back
	// while its camera is silent: the writer holds the last one until the
	// next arrives (to merge slices that share a timestamp) or the queue
	// closes at stop. The count after stop is still exact.
	heldBack = 1

	// closeTimeout bounds the fleet's stop: every job finalises one
	// segment, and a loaded machine is slow at it.
	closeTimeout = time.Minute

	// settle is how long every camera's sent count must stay unchanged
	// before the drain believes the camera has stalled: frames are 40 ms
	// apart, and a starved streamer goroutine can be late by far more.
	settle = time.Second
)

// Options configure one run.
type Options struct {
	Mode      string        // ModeRecord or ModeBaseline
	Cameras   int           // number of test cameras, each its own server
	Duration  time.Duration // how long each camera streams after PLAY
	Clip      string        // testcam clip, default ClipMain720 (~4 Mbit/s)
	Transport string        // "tcp" (default) or "udp"
	// DataDir is where the temporary data directory is created (default
	// os.TempDir()); the directory is removed afterwards unless Keep.
	DataDir         string
	Keep            bool
	SegmentDuration time.Duration // recorder segment length, default 10s
	// ReadLatency and FragmentDuration are the recorder's (0: its
	// defaults; a negative ReadLatency reads at once), to compare.
	ReadLatency, FragmentDuration time.Duration
	// Drain bounds the wait, after the cameras stop, for every sent frame
	// to be accounted for (written or dropped); default 30s.
	Drain time.Duration
	// Stagger spreads the cameras' starts evenly over this long, so their
	// segment boundaries do not all fall at the same moment: the fleet
	// starts with one camera and a config with one more is applied at each
	// step, as a reload adds cameras. Default 0 (every job starts at once,
	// as `nvr serve` does).
	Stagger time.Duration
	// SampleEvery is the memory sampling period, default 1s.
	SampleEvery time.Duration
	// CPUProfile, when set, receives a CPU profile of the streaming phase.
	CPUProfile string
	// MemProfile, when set, receives a heap profile at the steady sample.
	MemProfile string
	// DropEvery makes every camera skip every Nth RTP packet (testcam
	// DropEvery), to check that the run notices loss; 0: off.
	DropEvery int
	// External, when set, is the path of the refserver command
	// (cmd/loadtest/refserver): the cameras are then gortsplib's server in
	// that separate process, writing packet by packet at real time, and
	// this process's CPU is the recorder's (and the baseline's reader's)
	// alone. Default: in-process testcam servers.
	External string
}

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeRecord
	}
	if o.Clip == "" {
		o.Clip = testcam.ClipMain720
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.DataDir == "" {
		o.DataDir = os.TempDir()
	}
	if o.SegmentDuration == 0 {
		o.SegmentDuration = 10 * time.Second
	}
	if o.Drain == 0 {
		o.Drain = 30 * time.Second
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = time.Second
	}
	return o
}

// Validate reports every problem with o (after defaults), naming fields.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("loadtest: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if o.Mode != ModeRecord && o.Mode != ModeBaseline {
		bad("Mode", "%q is neither %q nor %q", o.Mode, ModeRecord, ModeBaseline)
	}
	if o.Cameras < 1 || o.Cameras > maxCameras {
		bad("Cameras", "must be 1..%d, got %d", maxCameras, o.Cameras)
	}
	if o.Duration <= 0 || o.Duration > maxDuration {
		bad("Duration", "must be in (0, %v], got %v", maxDuration, o.Duration)
	}
	if o.Transport != "tcp" && o.Transport != "udp" {
		bad("Transport", "must be tcp or udp, got %q", o.Transport)
	}
	if o.DropEvery < 0 || o.DropEvery == 1 {
		bad("DropEvery", "must be 0 (off) or at least 2, got %d", o.DropEvery)
	}
	if o.External != "" && o.DropEvery != 0 {
		bad("DropEvery", "not offered by the external server")
	}
	if o.SegmentDuration < 0 || o.Drain < 0 || o.SampleEvery < 0 || o.Stagger < 0 {
		bad("SegmentDuration/Drain/SampleEvery/Stagger", "must not be negative")
	}
	return errors.Join(errs...)
}

// Mem is one memory sample of the process.
type Mem struct {
	HeapInuse uint64 `json:"heap_inuse"` // runtime.MemStats.HeapInuse, bytes (garbage included until the next GC)
	HeapLive  uint64 `json:"heap_live"`  // live heap marked by the last GC (runtime/metrics /gc/heap/live:bytes)
	Sys       uint64 `json:"sys"`        // runtime.MemStats.Sys, bytes
	RSS       uint64 `json:"rss"`        // VmRSS from /proc/self/status, bytes (0 if unknown)
}

// Camera is what one camera sent and what became of it.
type Camera struct {
	ID            string `json:"id"`
	FramesSent    uint64 `json:"frames_sent"`    // testcam Stats.FramesSent
	FramesArrived uint64 `json:"frames_arrived"` // record: written+dropped; baseline: RTP marker bits
	FramesWritten uint64 `json:"frames_written"` // job Status.Frames
	IndexFrames   uint64 `json:"index_frames"`   // sum of the index rows' frames
	Dropped       uint64 `json:"dropped_frames"` // job Status.DroppedFrames
	PacketsLost   uint64 `json:"packets_lost"`   // job Status.PacketsLost
	DecodeErrors  uint64 `json:"decode_errors"`  // job Status.DecodeErrors
	Reconnects    uint64 `json:"reconnects"`     // job Status.Reconnects, or baseline sessions after the first
	BytesReceived uint64 `json:"bytes_received"` // RTP payload bytes
	Segments      int    `json:"segments"`       // index rows
	LastError     string `json:"last_error,omitempty"`
}

// Report is the outcome of one run.
type Report struct {
	Mode      string  `json:"mode"`
	Cameras   int     `json:"cameras"`
	Clip      string  `json:"clip"`
	Transport string  `json:"transport"`
	DataDir   string  `json:"data_dir,omitempty"`
	Seconds   float64 `json:"seconds"`  // wall time from the first job's start to the last job's end
	Duration  float64 `json:"duration"` // seconds each camera streamed (-duration)
	Stagger   float64 `json:"stagger"`  // seconds over which the starts were spread

	BytesReceived uint64  `json:"bytes_received"`
	GB            float64 `json:"gb_received"` // BytesReceived / 1e9

	FramesSent    uint64 `json:"frames_sent"`
	FramesArrived uint64 `json:"frames_arrived"`
	FramesWritten uint64 `json:"frames_written"`
	IndexFrames   uint64 `json:"index_frames"`
	Dropped       uint64 `json:"dropped_frames"`
	PacketsLost   uint64 `json:"packets_lost"`
	DecodeErrors  uint64 `json:"decode_errors"`
	Reconnects    uint64 `json:"reconnects"`
	Segments      int    `json:"segments"`
	// CamerasComplete counts cameras whose every sent frame was written
	// (record) or arrived (baseline).
	CamerasComplete int `json:"cameras_complete"`
	// Drained is false when the drain gave up before every sent frame was
	// accounted for.
	Drained bool `json:"drained"`

	UserCPU    float64 `json:"user_cpu_s"` // process user CPU seconds during the run
	SysCPU     float64 `json:"sys_cpu_s"`  // process system CPU seconds during the run
	UserPerGB  float64 `json:"user_s_per_gb"`
	SysPerGB   float64 `json:"sys_s_per_gb"`
	TotalPerGB float64 `json:"cpu_s_per_gb"`
	GCs        uint32  `json:"gc_cycles"`
	MemBefore  Mem     `json:"mem_before"` // before the cameras started
	MemPeak    Mem     `json:"mem_peak"`   // per field maximum while streaming
	// MemSteady is sampled just before the cameras stop, right after a
	// forced GC, so HeapInuse holds little garbage: the steady state.
	MemSteady   Mem     `json:"mem_steady"`
	HeapPerCam  float64 `json:"heap_per_cam"` // (peak HeapInuse - before) / cameras, bytes
	LivePerCam  float64 `json:"live_per_cam"` // (steady HeapLive - before) / cameras, bytes
	RSSPerCam   float64 `json:"rss_per_cam"`  // (peak RSS - before) / cameras, bytes
	LoadAverage string  `json:"load_average"` // /proc/loadavg at the end
	// External: the cameras were the separate refserver process, whose
	// own CPU seconds over the run are ServerCPU (not in UserCPU/SysCPU).
	External    bool    `json:"external,omitempty"`
	ServerCPU   float64 `json:"server_cpu_s,omitempty"`
	VerifyError string  `json:"verify_error,omitempty"`

	// Waits times the recorder's fsyncs and index calls (record mode).
	Waits *Waits `json:"waits,omitempty"`
	// Machine is what the machine and this process's threads did.
	Machine Machine `json:"machine"`
	// DropTimeline is the total of dropped frames at each memory sample
	// (one per SampleEvery from the start): when the drops happened.
	DropTimeline []uint64 `json:"drop_timeline,omitempty"`

	PerCamera []Camera `json:"per_camera,omitempty"`
}

// cpuTimes returns the process's user and system CPU time (every thread).
func cpuTimes() (user, sys time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}

// sampleMem reads the runtime's memory statistics and the RSS.
func sampleMem() (Mem, uint32) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Mem{HeapInuse: ms.HeapInuse, Sys: ms.Sys}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	if live[0].Value.Kind() == metrics.KindUint64 {
		m.HeapLive = live[0].Value.Uint64()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		m.RSS, _ = parseVmRSS(b)
	}
	return m, ms.NumGC
}

func (m *Mem) max(o Mem) {
	m.HeapInuse = max(m.HeapInuse, o.HeapInuse)
	m.HeapLive = max(m.HeapLive, o.HeapLive)
	m.Sys = max(m.Sys, o.Sys)
	m.RSS = max(m.RSS, o.RSS)
}

// camera is one camera's server and its consumer.
type camera struct {
	id   string
	url  string
	sent func() int64    // frames the camera sent so far
	srv  *testcam.Server // in-process camera, or nil with -external
	fl   *fleet.Fleet    // record mode: the fleet recording it

	// baseline mode counters
	bytes, frames, sessions atomic.Uint64
	lastErr                 atomic.Value // string
}

// arrived returns the frames the consumer accounted for so far.
func (c *camera) arrived() uint64 {
	if c.fl != nil {
		st, _ := c.fl.Stats(c.id)
		return st.Frames + st.DroppedFrames
	}
	return c.frames.Load()
}

// Run performs one run and reports it. The run's data directory is
// removed before Run returns unless o.Keep.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	rep := &Report{Mode: o.Mode, Cameras: o.Cameras, Clip: o.Clip, Transport: o.Transport, Duration: o.Duration.Seconds(), Stagger: o.Stagger.Seconds()}

	runtime.GC()
	rep.MemBefore, _ = sampleMem()

	cams := make([]*camera, o.Cameras)
	defer func() {
		for _, c := range cams {
			if c != nil && c.srv != nil {
				c.srv.Close()
			}
		}
	}()
	var ext *external
	if o.External != "" {
		var err error
		if ext, err = startExternal(o.External, o); err != nil {
			return nil, err
		}
		defer ext.stop()
	}
	for i := range cams {
		id := fmt.Sprintf("cam%04d", i)
		if ext != nil {
			cams[i] = &camera{id: id, url: ext.url(id), sent: func() int64 { return ext.sent(id) }}
			continue
		}
		srv, err := testcam.Start(testcam.Options{Clip: o.Clip, StallAfter: o.Duration, DropEvery: o.DropEvery})
		if err != nil {
			return nil, fmt.Errorf("loadtest: camera %d: %w", i, err)
		}
		cams[i] = &camera{id: id, url: srv.URL(), srv: srv, sent: func() int64 { return srv.Stats().FramesSent }}
	}

	var pr *probes
	var cfg *config.Config
	if o.Mode == ModeRecord {
		pr = &probes{start: time.Now()}
		dir, err := os.MkdirTemp(o.DataDir, "nvr-loadtest-")
		if err != nil {
			return nil, fmt.Errorf("loadtest: data dir: %w", err)
		}
		rep.DataDir = dir
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
		if cfg, err = fleetConfig(o, dir, cams); err != nil {
			return nil, err
		}
	}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("loadtest: cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("loadtest: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	_, gc0 := sampleMem()
	mp := startMachineProbe()
	user0, sys0, err := cpuTimes()
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	var extCPU0 float64
	if ext != nil {
		extCPU0 = ext.cpu()
	}
	start := time.Now()
	if pr != nil {
		pr.start = start
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var fl *fleet.Fleet
	if o.Mode == ModeRecord {
		fl, err = startFleet(runCtx, o, cfg, pr, &wg)
		if err != nil {
			return nil, err
		}
		defer fl.Close(context.Background()) // on an early return; closed below otherwise
		for _, c := range cams {
			c.fl = fl
		}
	} else {
		for i, c := range cams {
			delay := o.Stagger * time.Duration(i) / time.Duration(len(cams))
			wg.Go(func() {
				select {
				case <-runCtx.Done():
					return
				case <-time.After(delay):
				}
				c.readOnly(runCtx, o)
			})
		}
	}

	// Sample memory while the cameras stream.
	// The steady sample is taken one period before the cameras stop
	// (StallAfter counts from each PLAY, a little after start).
	streamEnd := start.Add(o.Stagger + o.Duration)
	steadyAt := streamEnd.Add(-o.SampleEvery)
	tick := time.NewTicker(o.SampleEvery)
	var profErr error
	for time.Now().Before(streamEnd) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			if rep.MemSteady.HeapLive == 0 && !time.Now().Before(steadyAt) {
				runtime.GC()
				rep.MemSteady, _ = sampleMem()
				if o.MemProfile != "" && profErr == nil {
					// Reported after the jobs have ended: returning
					// here would leave them running.
					profErr = writeHeapProfile(o.MemProfile)
				}
			}
			m, _ := sampleMem()
			rep.MemPeak.max(m)
			if o.Mode == ModeRecord {
				var d uint64
				for _, c := range cams {
					st, _ := fl.Stats(c.id)
					d += st.DroppedFrames
				}
				rep.DropTimeline = append(rep.DropTimeline, d)
			}
		}
	}
	tick.Stop()

	rep.Drained = drain(ctx, cams, o.Drain)
	cancel()
	wg.Wait()
	if fl != nil {
		closeCtx, cancelClose := context.WithTimeout(context.Background(), closeTimeout)
		err := fl.Close(closeCtx)
		cancelClose()
		if err != nil {
			return nil, fmt.Errorf("loadtest: stopping the fleet: %w", err)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	if profErr != nil {
		return nil, profErr
	}
	user1, sys1, err := cpuTimes()
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	rep.Machine = mp.stop()
	if ext != nil {
		rep.External = true
		rep.ServerCPU = ext.cpu() - extCPU0
		if _, err := ext.stats(); err != nil {
			return nil, err
		}
	}
	if pr != nil {
		w := pr.report()
		rep.Waits = &w
	}
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	_, gc1 := sampleMem()
	rep.GCs = gc1 - gc0
	rep.UserCPU = (user1 - user0).Seconds()
	rep.SysCPU = (sys1 - sys0).Seconds()

	for _, c := range cams {
		cr := Camera{ID: c.id, FramesSent: uint64(c.sent())}
		if fl != nil {
			st, _ := fl.Stats(c.id)
			cr.FramesWritten, cr.Dropped, cr.PacketsLost = st.Frames, st.DroppedFrames, st.PacketsLost
			cr.DecodeErrors, cr.Reconnects, cr.BytesReceived = st.DecodeErrors, st.Reconnects, st.BytesReceived
			cr.FramesArrived = st.Frames + st.DroppedFrames
			cr.LastError = st.LastError
		} else {
			cr.BytesReceived, cr.FramesArrived = c.bytes.Load(), c.frames.Load()
			if n := c.sessions.Load(); n > 0 {
				cr.Reconnects = n - 1
			}
			if s, ok := c.lastErr.Load().(string); ok {
				cr.LastError = s
			}
		}
		rep.PerCamera = append(rep.PerCamera, cr)
	}
	if fl != nil {
		// The fleet closed its index; read it back on its own.
		store, err := storage.Open(ctx, rep.DataDir)
		if err != nil {
			return nil, fmt.Errorf("loadtest: %w", err)
		}
		if err := verifyIndex(ctx, store, rep.PerCamera, start); err != nil {
			rep.VerifyError = err.Error()
		}
		store.Close()
	}
	rep.summarise()
	rep.LoadAverage = loadAverage()
	return rep, nil
}

// readOnly is the baseline consumer: an RTSP session whose packets are
// counted and dropped, reopened after a failure until ctx is done.
func (c *camera) readOnly(ctx context.Context, o Options) {
	for ctx.Err() == nil {
		c.sessions.Add(1)
		sess, err := rtsp.Open(ctx, rtsp.Config{URL: c.url, Transport: o.Transport, MediaTimeout: mediaTimeout})
		if err != nil {
			c.lastErr.Store(err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(recorder.DefaultMinBackoff):
			}
			continue
		}
		err = sess.ReadPackets(ctx, func(p *rtp.Packet) error {
			c.bytes.Add(uint64(len(p.Payload)))
			if p.Marker {
				c.frames.Add(1)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			c.lastErr.Store(err.Error())
		}
		sess.Close()
	}
}

// drain waits, after the cameras stopped sending, until every camera's
// sent frames are accounted for (written or dropped, or read, but for the
// heldBack ones) and its sent count has settled, or until limit passes. It reports whether everything
// was accounted for.
func drain(ctx context.Context, cams []*camera, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	lastSent := make([]int64, len(cams))
	stableSince := make([]time.Time, len(cams))
	for {
		now := time.Now()
		done := true
		for i, c := range cams {
			sent := c.sent()
			if sent != lastSent[i] || stableSince[i].IsZero() {
				lastSent[i], stableSince[i] = sent, now
			}
			if now.Sub(stableSince[i]) < settle || c.arrived()+heldBack < uint64(sent) {
				done = false
			}
		}
		if done {
			return true
		}
		if now.After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// summarise fills the totals from PerCamera.
func (r *Report) summarise() {
	for _, c := range r.PerCamera {
		r.BytesReceived += c.BytesReceived
		r.FramesSent += c.FramesSent
		r.FramesArrived += c.FramesArrived
		r.FramesWritten += c.FramesWritten
		r.IndexFrames += c.IndexFrames
		r.Dropped += c.Dropped
		r.PacketsLost += c.PacketsLost
		r.DecodeErrors += c.DecodeErrors
		r.Reconnects += c.Reconnects
		r.Segments += c.Segments
		kept := c.FramesWritten
		if r.Mode == ModeBaseline {
			kept = c.FramesArrived
		}
		if c.FramesSent > 0 && kept >= c.FramesSent && c.Dropped == 0 && c.PacketsLost == 0 {
			r.CamerasComplete++
		}
	}
	r.GB = float64(r.BytesReceived) / 1e9
	if r.GB > 0 {
		r.UserPerGB = r.UserCPU / r.GB
		r.SysPerGB = r.SysCPU / r.GB
		r.TotalPerGB = (r.UserCPU + r.SysCPU) / r.GB
	}
	if r.Cameras > 0 {
		r.HeapPerCam = float64(sub(r.MemPeak.HeapInuse, r.MemBefore.HeapInuse)) / float64(r.Cameras)
		r.RSSPerCam = float64(sub(r.MemPeak.RSS, r.MemBefore.RSS)) / float64(r.Cameras)
		r.LivePerCam = float64(sub(r.MemSteady.HeapLive, r.MemBefore.HeapLive)) / float64(r.Cameras)
	}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// loadAverage returns the first three fields of /proc/loadavg, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return firstFields(string(b), 3)
}

// writeHeapProfile writes the heap profile (as of the last GC) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("loadtest: heap profile: %w", err)
	}
	err = pprof.WriteHeapProfile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("loadtest: heap profile: %w", err)
	}
	return nil
}

// fleetConfig is the config nvr serve would be given for the run: every
// camera always recording into dir.
func fleetConfig(o Options, dir string, cams []*camera) (*config.Config, error) {
	cfg := &config.Config{DataDir: dir, SegmentDuration: config.Duration(o.SegmentDuration)}
	for _, c := range cams {
		cfg.Cameras = append(cfg.Cameras, config.Camera{ID: c.id, URL: c.url, Transport: o.Transport})
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loadtest: config: %w", err)
	}
	return cfg, nil
}

// startFleet opens a fleet recording cfg's cameras, with the run's
// timeouts and probes on every job. With a stagger it starts with the
// first camera and applies a config with one camera more at each step, on
// a goroutine added to wg that ends with ctx.
func startFleet(ctx context.Context, o Options, cfg *config.Config, pr *probes, wg *sync.WaitGroup) (*fleet.Fleet, error) {
	opts := fleet.Options{
		// Warnings and errors only: a line per camera start would drown
		// the report.
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		InitData: true,
		PrepareJob: func(rc *recorder.Config, deps *recorder.Deps) {
			rc.RTSP.MediaTimeout = mediaTimeout
			rc.FrameTimeout = mediaTimeout
			if o.ReadLatency != 0 {
				rc.ReadLatency = o.ReadLatency
			}
			if o.FragmentDuration != 0 {
				rc.FragmentDuration = o.FragmentDuration
			}
			pr.wrap(deps)
		},
	}
	first := *cfg
	if o.Stagger > 0 {
		first.Cameras = cfg.Cameras[:1]
	}
	fl, err := fleet.Open(ctx, &first, opts)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	n := len(cfg.Cameras)
	if o.Stagger > 0 && n > 1 {
		wg.Go(func() {
			for k := 2; k <= n; k++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(o.Stagger / time.Duration(n)):
				}
				step := *cfg
				step.Cameras = cfg.Cameras[:k]
				if err := fl.Apply(ctx, &step); err != nil {
					if ctx.Err() == nil {
						slog.Error("loadtest: adding a camera", "err", err)
					}
					return
				}
			}
		})
	}
	return fl, nil
}
