package fleet

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/live"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
)

// A camera's live stream is what its job batches reads by: nobody
// watching, batches; a viewer, none (recorder/latency.go).
var _ recorder.LiveWatched = (*live.Stream)(nil)

// recorderConfig maps a camera of the config to its job's settings. It is
// the one place where config fields reach the recorder.
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
		NoAudio:         !cc.RecordsAudio(),
	}.WithDefaults()
}

// subRecorderConfig is the settings of camera cc's sub stream session: the
// main stream's connection rules and segmenting with sub_url, DESCRIBE (the
// sdp key is the main stream's), as the camera's stream "sub", video only
// (the main stream's segments hold the audio). Whether it records is
// decided at each launch (launchSub).
func subRecorderConfig(cfg *config.Config, cc config.Camera) recorder.Config {
	rc := recorderConfig(cfg, cc)
	rc.RTSP.URL = cc.SubURL
	rc.Stream = storage.StreamSub
	rc.NoAudio = true
	rc.LiveOnly = true
	return rc
}

// launchSub starts the sub stream's session of camera id, live only or
// recording (record_sub, in the camera's window, with its lease); the
// caller holds f.mu.
func (f *Fleet) launchSub(id string, c *camera, liveOnly bool) {
	ctx, cancel := context.WithCancel(f.jobCtx)
	r := &jobRun{cancel: cancel, last: recorder.Status{State: recorder.StateStopped}, liveOnly: liveOnly, sub: true}
	c.sub.run = r
	rc := c.sub.rec
	rc.LiveOnly = liveOnly
	lease := storage.Lease{} // live only: writes nothing to fence
	if !liveOnly {
		lease, r.token = c.lease, c.lease.Token
	}
	lv := subSink{f: f, id: id, r: r, s: c.sub.live}
	f.jobs.Add(1)
	go func() {
		defer f.jobs.Done()
		f.runJob(ctx, id, r, rc, "", lv, lease)
	}()
}

// subSink feeds the sub stream's live picture and notes its session's
// first frame: a live-only job has no recording state to report, so the
// sub stream is live from the first frame it hands over.
type subSink struct {
	f  *Fleet
	id string
	r  *jobRun
	s  *live.Stream
}

func (k subSink) Frame(au *video.AccessUnit, arrivalNS int64) {
	k.s.Frame(au, arrivalNS)
	if !k.r.flowing.Swap(true) {
		k.f.mu.Lock()
		if c := k.f.cams[k.id]; c != nil && c.sub.run == k.r {
			k.f.updateSubView(k.id, c)
		}
		k.f.mu.Unlock()
	}
}

// launch starts a job for camera id on a goroutine of its own; the caller
// holds f.mu.
func (f *Fleet) launch(id string, c *camera, liveOnly bool) {
	ctx, cancel := context.WithCancel(f.jobCtx)
	r := &jobRun{cancel: cancel, last: recorder.Status{State: recorder.StateStopped}, liveOnly: liveOnly, token: c.lease.Token}
	c.run = r
	rc, sdp, lv, lease := c.rec, c.cfg.SDP, c.live, c.lease
	rc.LiveOnly = liveOnly
	f.jobs.Add(1)
	go func() {
		defer f.jobs.Done()
		f.runJob(ctx, id, r, rc, sdp, lv, lease)
	}()
}

const (
	// footageEndTimeout bounds the index query a job starts with.
	footageEndTimeout = 5 * time.Second
	// maxFootageAhead is how far past now the stream's last footage may
	// end for a new job to start after it: the job before ends its last
	// frame a frame ahead, plus what the slew added.
	maxFootageAhead = time.Minute
)

// runJob loads the camera's out-of-band SDP, if any, and records until
// ctx is cancelled. It runs on the job's own goroutine: an SDP server
// that takes its time delays only this camera.
func (f *Fleet) runJob(ctx context.Context, id string, r *jobRun, rc recorder.Config, sdpSrc string, lv recorder.LiveSink, lease storage.Lease) {
	var job *recorder.Job
	defer func() { f.jobEnded(id, r, job) }()
	if sdpSrc != "" {
		sdp, err := rtsp.LoadSDP(ctx, sdpSrc)
		switch {
		case ctx.Err() != nil:
			return // stopped while loading
		case err != nil:
			f.log.Error("loading out-of-band SDP; using DESCRIBE", slog.String("camera", id), slog.Any("err", err))
		default:
			rc.RTSP.SDP = sdp
		}
	}
	deps := recorder.Deps{Store: segmentEvents{Store: f.store, hub: &f.hub, lease: lease, fenced: f.fenced}, Live: lv}
	if f.opts.PrepareJob != nil {
		f.opts.PrepareJob(&rc, &deps)
	}
	deps.OnChange = func(ch recorder.Change) { f.jobChanged(id, r, ch) }
	if !rc.LiveOnly {
		// The job anchors its footage after the stream's last segment,
		// which the job before it (a restart, another node) may have
		// closed a moment ago. Asked here, on the job's goroutine: the
		// fleet's owner never waits for the index.
		qctx, cancel := context.WithTimeout(ctx, footageEndTimeout)
		end, err := f.store.FootageEnd(qctx, id, rc.Stream)
		cancel()
		switch ahead := time.Duration(end - time.Now().UnixNano()); {
		case err != nil:
			f.log.Warn("reading the camera's last footage; anchoring at arrival", slog.String("camera", id), slog.Any("err", err))
		case ahead > maxFootageAhead:
			// Footage stamped far ahead comes from a clock that was
			// wrong: following it would misdate everything recorded now.
			f.log.Warn("the camera's last footage ends in the future; anchoring at arrival", slog.String("camera", id), slog.Duration("ahead", ahead))
		default:
			rc.FootageUntilNS = end
		}
	}
	j, err := recorder.NewJob(rc, deps)
	if err != nil { // validated by Prepare; only a bug gets here
		f.log.Error("cannot start camera", slog.String("camera", id), slog.Any("err", err))
		return
	}
	f.mu.Lock()
	r.job = j
	f.mu.Unlock()
	if ctx.Err() == nil {
		if err := j.Run(ctx); err != nil {
			f.log.Error("camera job ended", slog.String("camera", id), slog.Any("err", err))
		}
	}
	job = j
}

// jobEnded records that a job's Run returned and wakes the owner.
func (f *Fleet) jobEnded(id string, r *jobRun, job *recorder.Job) {
	f.mu.Lock()
	r.done = true
	if job != nil {
		r.final = job.Status()
	}
	if r.stopTimer != nil {
		r.stopTimer.Stop()
	}
	f.mu.Unlock()
	if job != nil {
		msg := "recording stopped"
		switch {
		case r.sub && !r.liveOnly:
			msg = "sub stream recording stopped"
		case r.sub:
			msg = "sub stream connection closed"
		case r.liveOnly:
			msg = "live connection closed"
		}
		f.log.Info(msg, slog.String("camera", id))
	}
	f.poke()
}

// jobChanged turns a job's report into events and folds it into the
// camera's view. It runs on the job's goroutines: it only takes f.mu
// and publishes, which never blocks.
func (f *Fleet) jobChanged(id string, r *jobRun, ch recorder.Change) {
	base := Base{Camera: id, Time: time.Now()}
	var syncNote string
	defer func() {
		// Once a session (the note is cleared when the next one
		// starts), and after f.mu is released.
		if syncNote != "" {
			f.log.Warn("lip sync does not use the camera's RTCP sender reports", slog.String("camera", id), slog.String("reason", syncNote))
		}
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := r.last
	r.last = ch.Status
	if n := ch.Status.AudioSyncNote; n != "" && n != prev.AudioSyncNote {
		syncNote = n
	}
	if r.sub {
		if ch.Status.State != recorder.StateStarting || ch.Err != nil {
			r.flowing.Store(false) // a new session: live again from its first frame
		}
		// The sub stream's session: its own state and events, never the
		// camera's (a failing sub stream does not stop the recording).
		if c := f.cams[id]; c != nil && c.sub.run == r {
			f.updateSubView(id, c)
		}
		return
	}
	if ch.Err != nil {
		f.hub.publish(JobFailed{Base: base, Err: jobError{ch.Err}})
	}
	if ch.Status.TimeJumps > prev.TimeJumps {
		f.hub.publish(TimeJumped{Base: base, Jumps: ch.Status.TimeJumps})
	}
	if c := f.cams[id]; c != nil && c.run == r {
		f.updateView(id, c)
	}
}

// segmentEvents is the index as a job sees it: every segment it opens,
// syncs and finishes is published.
//
// With a lease, every write carries its token (the segment file keeps the
// lease it was created with); a write refused as fenced drops the lease,
// which stops the job.
type segmentEvents struct {
	*storage.Store
	hub    *hub
	lease  storage.Lease
	fenced func(camera string, token int64)
}

// check reports a fenced write to the fleet and returns err.
func (s segmentEvents) check(camera string, err error) error {
	if errors.Is(err, storage.ErrFenced) && s.fenced != nil {
		s.fenced(camera, s.lease.Token)
	}
	return err
}

func (s segmentEvents) CreateSegment(ctx context.Context, seg storage.Segment) (recorder.SegmentFile, error) {
	seg.Lease = s.lease
	f, err := s.Store.CreateSegment(ctx, seg)
	if err = s.check(seg.Camera, err); err != nil {
		return nil, err
	}
	seg.ID = f.ID()
	s.hub.publish(SegmentOpened{Base: Base{Camera: seg.Camera, Time: time.Now()}, Segment: seg})
	return eventFile{f, s}, nil
}

// eventFile is a segment file whose row writes are published.
type eventFile struct {
	*storage.SegmentFile
	s segmentEvents
}

func (f eventFile) Update(ctx context.Context, seg storage.Segment) error {
	err := f.s.check(seg.Camera, f.SegmentFile.Update(ctx, seg))
	if err == nil {
		seg.ID, seg.Lease = f.ID(), f.s.lease
		f.s.hub.publish(SegmentGrew{Base: Base{Camera: seg.Camera, Time: time.Now()}, Segment: seg})
	}
	return err
}

func (f eventFile) Finish(ctx context.Context, seg storage.Segment) error {
	err := f.s.check(seg.Camera, f.SegmentFile.Finish(ctx, seg))
	if err == nil {
		seg.ID, seg.Lease = f.ID(), f.s.lease
		f.s.hub.publish(SegmentFinished{Base: Base{Camera: seg.Camera, Time: time.Now()}, Segment: seg})
	}
	return err
}
