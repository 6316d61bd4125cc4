// Package recorder owns one camera's recording job: it opens the RTSP
// session, turns RTP packets into access units, writes them as fragmented
// MP4 segments indexed through a SegmentStore, keeps the segments' wall
// clock times (docs/time.md), and reconnects with backoff after any
// failure, reporting its state through Status and Deps.OnChange.
//
// It does not own the RTSP protocol (recorder/rtsp), RTP depacketizing
// (recorder/h264), the MP4 format (storage/fmp4), the index or file layout
// (storage), or when a camera records (schedule). It does not log: errors
// are returned and reported in Status.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/ticks"
)

// Sentinel errors, reported (redacted) in Status.LastError and usable with
// errors.Is on the errors the job produces.
var (
	// ErrStalled: the session stayed open but no access unit arrived
	// within Config.FrameTimeout (F2).
	ErrStalled = errors.New("recorder: no frames within the frame timeout")
	// ErrWrite: writing a segment failed (F5, e.g. disk full); the
	// segment was cut back to its last complete fragment.
	ErrWrite = errors.New("recorder: segment write failed")
	// ErrSync: fsync failed (F7); the segment was abandoned at its last
	// synced state.
	ErrSync = errors.New("recorder: fsync failed")
	// ErrSessionEnded: the session ended without saying why.
	ErrSessionEnded = errors.New("recorder: session ended")
	// ErrRunning: Run was called while the job was already running.
	ErrRunning = errors.New("recorder: job already running")
)

const (
	// healthyMedia90k: a session that recorded this much media resets the
	// backoff, so a camera that accepts and drops every session after a
	// few seconds is not reconnected every second forever.
	healthyMedia90k = 10 * ticks.PerSecond
	// healthyLiveFrames is the same for a live-only session, which counts
	// frames instead: ten seconds at 25 fps.
	healthyLiveFrames = 250

	// watchdogTicks is how many times per FrameTimeout the stall
	// watchdog looks at the frame counter: a stall is detected between
	// FrameTimeout and FrameTimeout*(1+1/watchdogTicks).
	watchdogTicks = 4

	// backoffJitter spreads reconnects of many cameras after a shared
	// failure (a switch reboot) by ±20 %.
	backoffJitter = 0.2
)

// State is a job's state.
type State string

// States of a job.
const (
	StateStarting  State = "starting"  // connecting, or waiting for the first keyframe
	StateRecording State = "recording" // writing segments
	StateRetrying  State = "retrying"  // failed (LastError), waiting to reconnect (NextRetry)
	StateStopped   State = "stopped"   // not running
)

// Status is a snapshot of a job.
type Status struct {
	State           State
	LastError       string    // the last failure, redacted (never a password)
	Since           time.Time // when State was entered
	RecordingSince  time.Time // start of the current run, zero if not recording
	NextRetry       time.Time // when State is retrying
	Reconnects      uint64    // sessions started after a failure
	SegmentsWritten uint64    // segments finalised
	Frames          uint64    // access units written to segments
	Keyframes       uint64    // of which keyframes
	BytesReceived   uint64    // RTP payload bytes received
	PacketsLost     uint64    // RTP packets missing (sequence gaps)
	DroppedFrames   uint64    // access units not written (queue full, waiting for a keyframe)
	DecodeErrors    uint64    // packets or access units the depacketizer rejected
	TimeJumps       uint64    // RTP timeline breaks that started a new run (R15)
	LastFrame       time.Time // arrival of the last access unit
	Width, Height   int       // of the current or last segment
	Codec           string    // RFC 6381, e.g. "avc1.640028"
	// AudioCodec is the RFC 6381 string the session's audio is recorded
	// as ("mp4a.40.2", "flac" for G.711, "opus"); "" when there is none,
	// and then AudioNote says why (off in the config, the camera has no
	// audio, its codec is not one nvr records, the SETUP failed...).
	AudioCodec string
	AudioNote  string
	// AudioSync says what relates the session's audio clock to the
	// video's: "sender reports" (RTCP), "RTP-Info" or "arrival" (the
	// first audio frame plays when it arrives); "" before the first
	// audio frame. AudioSyncNote says why the camera's sender reports
	// are ignored, when they are (reported once per session).
	AudioSync     string
	AudioSyncNote string
	AudioFrames   uint64 // audio frames received
	AudioDropped  uint64 // audio frames not written (queue share full, out of order, no video yet)
}

// Job records one camera. Create it with NewJob, run it with Run.
type Job struct {
	cfg    Config
	deps   Deps
	redact func(string) string

	running atomic.Bool

	// Counters, updated by the reader and writer goroutines.
	reconnects, segmentsWritten, frames, keyframes atomic.Uint64
	bytesReceived, packetsLost, droppedFrames      atomic.Uint64
	decodeErrors, timeJumps                        atomic.Uint64
	audioFrames, audioDrops                        atomic.Uint64
	lastFrameNS                                    atomic.Int64
	auCount                                        atomic.Uint64 // every AU that arrived, for the watchdog

	// prevEndNS is the latest wall end the camera's footage may reach
	// (segmenterReport.footageUntil); owned by whichever goroutine runs
	// the segmenter (one at a time).
	prevEndNS int64

	mu     sync.Mutex
	status Status // State, LastError, times, Width, Height, Codec
}

// NewJob fills cfg's defaults, validates it and returns a stopped job.
func NewJob(cfg Config, deps Deps) (*Job, error) {
	cfg = cfg.WithDefaults()
	err := cfg.Validate()
	if deps.Store == nil {
		err = errors.Join(err, errors.New("recorder: Deps.Store: nil"))
	}
	if err != nil {
		return nil, err
	}
	if !cfg.NoAudio && cfg.RTSP.AudioTrack == nil {
		cfg.RTSP.AudioTrack = acceptAudio
	}
	if cfg.NoAudio {
		cfg.RTSP.AudioTrack = nil
	}
	if cfg.RTSP.AuthMemory == nil {
		// What the camera's host offered is remembered across reconnects:
		// a host that offered Digest is never answered with Basic later.
		cfg.RTSP.AuthMemory = rtsp.NewAuthMemory()
	}
	j := &Job{cfg: cfg, deps: deps.withDefaults(), redact: newRedactor(cfg.RTSP.URL), prevEndNS: cfg.FootageUntilNS}
	j.status = Status{State: StateStopped, Since: j.deps.Clock.Now()}
	return j, nil
}

// Config returns the job's configuration with defaults filled.
func (j *Job) Config() Config { return j.cfg }

// Status returns a snapshot of the job; safe from any goroutine.
func (j *Job) Status() Status {
	j.mu.Lock()
	st := j.status
	st.Reconnects = j.reconnects.Load()
	j.mu.Unlock()
	st.SegmentsWritten = j.segmentsWritten.Load()
	st.Frames = j.frames.Load()
	st.Keyframes = j.keyframes.Load()
	st.BytesReceived = j.bytesReceived.Load()
	st.PacketsLost = j.packetsLost.Load()
	st.DroppedFrames = j.droppedFrames.Load()
	st.DecodeErrors = j.decodeErrors.Load()
	st.TimeJumps = j.timeJumps.Load()
	st.AudioFrames = j.audioFrames.Load()
	st.AudioDropped = j.audioDrops.Load()
	if ns := j.lastFrameNS.Load(); ns != 0 {
		st.LastFrame = time.Unix(0, ns)
	}
	return st
}

func (j *Job) setState(s State, next time.Time) {
	j.mu.Lock()
	j.enter(s, next)
	j.mu.Unlock()
	j.changed(nil)
}

// enter sets the state; the caller holds j.mu.
func (j *Job) enter(s State, next time.Time) {
	if j.status.State != s {
		j.status.Since = j.deps.Clock.Now()
	}
	j.status.State = s
	j.status.NextRetry = next
	if s != StateRecording {
		j.status.RecordingSince = time.Time{}
	}
}

// fail records err as the last error and enters StateRetrying until next,
// reported as one change.
func (j *Job) fail(err error, next time.Time) {
	j.mu.Lock()
	j.status.LastError = j.redact(err.Error())
	j.enter(StateRetrying, next)
	j.mu.Unlock()
	j.changed(err)
}

// changed reports a change to Deps.OnChange; the caller must not hold j.mu.
func (j *Job) changed(err error) {
	if j.deps.OnChange == nil {
		return
	}
	ch := Change{Status: j.Status()}
	if err != nil {
		ch.Err = &redactedError{msg: j.redact(err.Error()), err: err}
	}
	j.deps.OnChange(ch)
}

// startAttempt enters StateStarting, counting a reconnect under the same
// lock so no Status shows the new count with the old state.
func (j *Job) startAttempt(reconnect bool) {
	j.mu.Lock()
	if reconnect {
		j.reconnects.Add(1)
	}
	j.status.Since = j.deps.Clock.Now()
	j.status.State = StateStarting
	j.status.NextRetry = time.Time{}
	j.status.RecordingSince = time.Time{}
	j.status.AudioSync, j.status.AudioSyncNote = "", "" // the new session's own
	j.mu.Unlock()
	j.changed(nil)
}

func (j *Job) setLastError(err error) {
	j.mu.Lock()
	j.status.LastError = j.redact(err.Error())
	j.mu.Unlock()
	j.changed(err)
}

// segmenterDeps hands a new segmenter the job's settings, collaborators
// and the job itself as the receiver of its reports.
func (j *Job) segmenterDeps() segmenterDeps {
	return segmenterDeps{
		Camera:           j.cfg.Camera,
		Stream:           j.cfg.Stream,
		SegmentDuration:  j.cfg.SegmentDuration,
		FragmentDuration: j.cfg.FragmentDuration,
		FsyncInterval:    j.cfg.FsyncInterval,
		Store:            j.deps.Store,
		NewWriter:        j.deps.NewWriter,
		Scan:             j.deps.Scan,
		PrevEndNS:        j.prevEndNS,
		Report:           j,
	}
}

// The segmenter's reports (segmenterReport), on the writer goroutine.

func (j *Job) frameDropped() { j.droppedFrames.Add(1) }
func (j *Job) audioDropped() { j.audioDrops.Add(1) }
func (j *Job) timeJump()     { j.timeJumps.Add(1) }

func (j *Job) frameWritten(keyframe bool) {
	j.frames.Add(1)
	if keyframe {
		j.keyframes.Add(1)
	}
}

func (j *Job) paramsRejected(err error) { j.setLastError(err) }
func (j *Job) segmentFinished()         { j.segmentsWritten.Add(1) }
func (j *Job) footageUntil(endNS int64) { j.prevEndNS = max(j.prevEndNS, endNS) }

// runStarted: the segmenter anchored a run at startNS.
func (j *Job) runStarted(startNS int64) {
	j.mu.Lock()
	if j.status.State != StateRecording {
		j.status.Since = j.deps.Clock.Now()
	}
	j.status.State = StateRecording
	j.status.RecordingSince = time.Unix(0, startNS)
	j.mu.Unlock()
	j.changed(nil)
}

// segmentOpened: the segmenter opened a segment with params p.
func (j *Job) segmentOpened(p video.Params) {
	j.mu.Lock()
	j.status.Width, j.status.Height, j.status.Codec = p.Width, p.Height, p.Codec
	j.mu.Unlock()
}

// Run records until ctx is done: it opens the session, writes segments, and
// after any failure finalises the open segment, backs off (MinBackoff
// doubling to MaxBackoff, with jitter, reset after a healthy session) and
// reconnects. When ctx is done it finalises the open segment, closes the
// session (TEARDOWN) and returns nil. Every goroutine it starts has ended
// when it returns.
func (j *Job) Run(ctx context.Context) error {
	if !j.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer j.running.Store(false)
	defer j.setState(StateStopped, time.Time{})

	failures := 0
	for attempt := 0; ; attempt++ {
		j.startAttempt(attempt > 0)
		healthy, err := j.runSession(ctx)
		if ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				// Finalising on the way out failed: say so in Status.
				j.setLastError(err)
			}
			return nil
		}
		if healthy {
			failures = 0
		}
		if err == nil {
			err = ErrSessionEnded
		}
		delay := j.backoff(failures)
		failures++
		j.fail(err, j.deps.Clock.Now().Add(delay))
		timer := j.deps.Clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C():
		}
	}
}

// backoff returns the pause after the given number of consecutive
// failures: MinBackoff doubling up to MaxBackoff, ±20 % jitter, never
// above MaxBackoff.
func (j *Job) backoff(failures int) time.Duration {
	d := j.cfg.MinBackoff
	for i := 0; i < failures && d < j.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, j.cfg.MaxBackoff)
	f := 1 + backoffJitter*(2*j.deps.Rand()-1)
	return min(time.Duration(float64(d)*f), j.cfg.MaxBackoff)
}

// runSession records one RTSP session. It reports whether the session was
// healthy (recorded enough to reset the backoff) and why it ended.
func (j *Job) runSession(ctx context.Context) (healthy bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	sess, err := j.deps.Open(sctx, j.cfg.RTSP)
	if err != nil {
		return false, fmt.Errorf("camera %s: %w", j.cfg.Camera, err)
	}
	info := sess.Info()
	dep, err := video.NewDepacketizer(info.Video)
	if err != nil {
		_ = sess.Close()
		return false, fmt.Errorf("camera %s: %w", j.cfg.Camera, err)
	}

	at, avs, note := j.audioTrack(sess, info)
	j.setAudio(at, note)
	var (
		q        *auQueue
		seg      *segmenter
		wg       sync.WaitGroup
		writeErr error
	)
	if !j.cfg.LiveOnly {
		q = newQueue(&j.droppedFrames)
		d := j.segmenterDeps()
		if at != nil {
			d.Audio = at.Format()
		}
		seg = newSegmenter(d)
		wg.Go(func() {
			writeErr = seg.run(q)
			if writeErr != nil {
				cancel(writeErr)
			}
		})
	}
	au0 := j.auCount.Load()
	watchdogDone := make(chan struct{})
	wg.Go(func() {
		j.watchdog(sctx, cancel, watchdogDone)
	})

	lostBase := j.packetsLost.Load()
	// With audio, reads are batched only once the audio is placed: lip
	// sync by arrival (avSync) compares arrival times, which a batch
	// makes one.
	latency := j.readLatency(sess, at == nil)
	defer latency.stop()
	audioWaitUntil := j.deps.Clock.Now().Add(audioSyncWait).UnixNano()
	emit := func(au *video.AccessUnit) {
		now := j.deps.Clock.Now().UnixNano()
		if now > audioWaitUntil {
			latency.allow() // the audio is late or broken: batch anyway
		}
		j.auCount.Add(1)
		j.lastFrameNS.Store(now)
		if avs != nil {
			avs.video(au.PTS, now)
		}
		if q != nil {
			q.push(au, now)
		}
		if j.deps.Live != nil {
			j.deps.Live.Frame(au, now)
		}
	}
	liveAudio, _ := j.deps.Live.(LiveAudioSink)
	var placed audio.Frame
	syncGen := 0
	emitAudio := func(f *audio.Frame) {
		now := j.deps.Clock.Now().UnixNano()
		j.audioFrames.Add(1)
		format := at.Format()
		pts, ok := avs.place(f.PTS, f.Duration, now)
		if avs.have {
			latency.allow()
		}
		if avs.gen != syncGen {
			syncGen = avs.gen
			j.setAudioSync(avs)
		}
		if format != nil && format.AAC != nil {
			// AAC's decoder gives out each access unit's audio one frame
			// late (the MDCT windows overlap: the first frame decodes to
			// priming), so an AU is placed a frame early to play its
			// content at its RTP time (TestLipSync measures it).
			pts -= f.Duration
			ok = ok && pts >= 0
		}
		if format == nil || !ok {
			j.audioDrops.Add(1)
			return
		}
		if q != nil {
			q.pushAudio(format, pts, f.Duration, f.Data, now, &j.audioDrops)
		}
		if liveAudio != nil {
			placed = audio.Frame{PTS: pts, Duration: f.Duration, Data: f.Data}
			liveAudio.Audio(format, &placed, now)
		}
	}
	onVideo := func(pkt *rtp.Packet) error {
		j.bytesReceived.Add(uint64(len(pkt.Payload)))
		if err := dep.Push(pkt, emit); err != nil {
			j.decodeErrors.Add(1)
		}
		j.packetsLost.Store(lostBase + dep.Stats().Lost)
		if sctx.Err() != nil {
			return context.Cause(sctx)
		}
		return nil
	}
	var readErr error
	if tr, ok := sess.(TrackReader); ok && at != nil {
		readErr = tr.ReadTracks(sctx, func(k rtsp.TrackKind, pkt *rtp.Packet) error {
			if k != rtsp.TrackAudio {
				avs.videoSSRC = pkt.SSRC
				return onVideo(pkt)
			}
			avs.audioSSRC = pkt.SSRC
			j.bytesReceived.Add(uint64(len(pkt.Payload)))
			// Errors are the track's own (loss, a malformed packet): never
			// fatal to the session; the counts are in Status.
			_ = at.Push(pkt, emitAudio)
			if sctx.Err() != nil {
				return context.Cause(sctx)
			}
			return nil
		})
	} else {
		readErr = sess.ReadPackets(sctx, onVideo)
	}
	if sctx.Err() == nil {
		// The stream ended by itself: its last access unit is complete.
		dep.Flush(emit)
	}
	if at != nil {
		// A G.711 track's pending FLAC block goes out padded.
		_ = at.Reset(emitAudio)
	}
	cause := context.Cause(sctx)
	if q != nil {
		q.close()
	}
	close(watchdogDone)
	wg.Wait()
	closeErr := sess.Close()

	if seg != nil {
		healthy = seg.written90k >= healthyMedia90k
	} else {
		healthy = j.auCount.Load()-au0 >= healthyLiveFrames
	}
	switch {
	case ctx.Err() != nil:
		if err := errors.Join(writeErr, closeErr); err != nil {
			return healthy, fmt.Errorf("camera %s: stopping: %w", j.cfg.Camera, err)
		}
		return healthy, nil
	case writeErr != nil:
		err = writeErr
	case errors.Is(cause, ErrStalled):
		err = cause
	case readErr != nil:
		err = readErr
	default:
		err = ErrSessionEnded
	}
	return healthy, fmt.Errorf("camera %s: %w", j.cfg.Camera, err)
}

// audioTrack makes the session's audio track and its clock relation, or
// says why there is none.
func (j *Job) audioTrack(sess Session, info rtsp.Info) (*audio.Track, *avSync, string) {
	switch {
	case j.cfg.NoAudio:
		return nil, nil, "audio is off for this camera (audio: false)"
	case info.Audio == nil && info.AudioErr != "":
		return nil, nil, info.AudioErr
	case info.Audio == nil:
		for _, t := range info.Tracks {
			if t.Type == "audio" {
				_, err := audio.NewTrack(t.Codec, t.ClockRate, t.Channels, t.Fmtp)
				if err != nil {
					return nil, nil, err.Error()
				}
				return nil, nil, "the audio track was not set up"
			}
		}
		return nil, nil, "the camera offers no audio track"
	}
	if _, ok := sess.(TrackReader); !ok {
		return nil, nil, "the session cannot read audio"
	}
	a := info.Audio
	at, err := audio.NewTrack(a.Codec, a.ClockRate, a.Channels, a.Fmtp)
	if err != nil {
		return nil, nil, err.Error()
	}
	var srs func() (video, audio rtsp.SenderReport)
	if sr, ok := sess.(SenderReporter); ok {
		srs = sr.SenderReports
	}
	return at, newAVSync(a.ClockRate, info.RTPInfo, srs), ""
}

// setAudioSync shows where the session's lip sync comes from, and why
// sender reports are not used if they were refused, in Status.
func (j *Job) setAudioSync(s *avSync) {
	j.mu.Lock()
	j.status.AudioSync, j.status.AudioSyncNote = s.source.String(), j.redact(s.note)
	j.mu.Unlock()
	j.changed(nil)
}

// setAudio shows the session's audio codec, or why there is none, in Status.
func (j *Job) setAudio(at *audio.Track, note string) {
	j.mu.Lock()
	j.status.AudioCodec, j.status.AudioNote = "", j.redact(note)
	if at != nil {
		if f := at.Format(); f != nil {
			j.status.AudioCodec = f.Codec
		} else {
			j.status.AudioNote = "AAC (MP4A-LATM) with its config in band: waiting for it"
		}
	}
	j.mu.Unlock()
}

// watchdog cancels the session with ErrStalled when no access unit arrives
// for FrameTimeout (F2: a TCP connection can stay open, even with RTCP
// flowing, while the camera sends no video). It counts ticks of the
// monotonic timer instead of reading the wall clock, so a clock step
// cannot fire it.
func (j *Job) watchdog(ctx context.Context, cancel context.CancelCauseFunc, done <-chan struct{}) {
	tick := j.cfg.FrameTimeout / watchdogTicks
	if tick <= 0 {
		tick = j.cfg.FrameTimeout
	}
	last := j.auCount.Load()
	idle := time.Duration(0)
	for {
		timer := j.deps.Clock.NewTimer(tick)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-done:
			timer.Stop()
			return
		case <-timer.C():
		}
		if n := j.auCount.Load(); n != last {
			last, idle = n, 0
			continue
		}
		idle += tick
		if idle >= j.cfg.FrameTimeout {
			cancel(fmt.Errorf("%w (%v)", ErrStalled, j.cfg.FrameTimeout))
			return
		}
	}
}

// newRedactor returns a function that removes the camera's credentials
// from a message: any URL, and the secrets of the camera's URL (raw and
// percent-decoded) wherever they appear (S3).
func newRedactor(rawURL string) func(string) string {
	return redact.Scrubber(redact.Secrets(rawURL)...)
}
