package fleet

import (
	"time"

	"github.com/nvr-project/nvr/recorder"
)

// State is a camera's state as the API and the metrics show it.
type State string

// The camera states; this is their one definition.
const (
	StateRecording State = "recording" // its job is writing segments
	StateRetrying  State = "retrying"  // in a window but not recording: connecting, waiting for a keyframe, or backing off after a failure
	StateIdle      State = "idle"      // outside its schedule's windows
	StateDisabled  State = "disabled"  // enabled: false in the config
)

// States lists every State, in the order the metrics export them.
var States = []State{StateRecording, StateRetrying, StateIdle, StateDisabled}

// SubState is the state of a camera's sub stream session, which is open
// while someone watches the sub stream, or records it (record_sub).
type SubState string

// The sub stream states.
const (
	SubIdle       SubState = "idle"       // no session: nobody watches it and it is not recorded now
	SubConnecting SubState = "connecting" // connecting, or waiting for the first keyframe
	SubLive       SubState = "live"       // frames flow to its viewers (live only: not recorded)
	SubRecording  SubState = "recording"  // its segments are being written (and frames flow to any viewers)
	SubRetrying   SubState = "retrying"   // failed (LastError), waiting to reconnect
)

// CameraStatus is one configured camera and its live state. Zero times
// mean "not applicable".
type CameraStatus struct {
	ID, Name       string
	State          State
	LastError      string    // redacted; only while a job runs
	RecordingSince time.Time // start of the current run, when recording
	NextWindow     time.Time // when idle: the next window's start, if known
	// AudioCodec is the RFC 6381 string the camera's audio is recorded
	// as, or "" and AudioNote says why there is none (while a job runs).
	AudioCodec, AudioNote string
	// Node is the node recording it (several nodes on PostgreSQL): this
	// one while it holds the lease, else the holder seen at the last
	// lease round. Empty on a single node or when no node holds it.
	Node string
	// Sub is the sub stream's state; nil when the camera has no sub_url.
	Sub *SubStatus
}

// SubStatus is the state of a camera's sub stream.
type SubStatus struct {
	State     SubState
	LastError string // redacted; only while its session runs
	// Recorded: the camera's config records the sub stream in its windows
	// (record_sub), so the index holds its footage as stream sub.
	Recorded bool
}

// subView is what the fleet last published about a sub stream.
type subView struct {
	state     SubState
	lastError string
}

// currentSubView derives the sub stream's view; the caller holds f.mu.
func (c *camera) currentSubView() subView {
	r := c.sub.run
	if r == nil || r.stopping {
		return subView{state: SubIdle}
	}
	v := subView{lastError: r.last.LastError}
	switch r.last.State {
	case recorder.StateRecording:
		v.state = SubLive
		if !r.liveOnly {
			v.state = SubRecording
		}
	case recorder.StateRetrying:
		v.state = SubRetrying
	default:
		v.state = SubConnecting
		if r.flowing.Load() && r.liveOnly {
			v.state = SubLive
		}
	}
	return v
}

// updateSubView publishes SubStateChanged when the sub stream's view
// changed; the caller holds f.mu.
func (f *Fleet) updateSubView(id string, c *camera) {
	if c.cfg.SubURL == "" && !c.sub.published {
		return
	}
	v := c.currentSubView()
	if c.sub.published && v == c.sub.shown {
		return
	}
	c.sub.shown, c.sub.published = v, true
	f.hub.publish(SubStateChanged{Base: Base{Camera: id, Time: time.Now()}, State: v.state, LastError: v.lastError})
}

// cameraState maps a job's state to the camera's: a job that is
// connecting or waiting for a keyframe is not recording yet.
func cameraState(s recorder.State) State {
	switch s {
	case recorder.StateRecording:
		return StateRecording
	case recorder.StateStopped:
		return StateIdle
	default:
		return StateRetrying
	}
}

// view is what the fleet last published about a camera.
type view struct {
	state          State
	job            recorder.State
	lastError      string
	nextRetry      time.Time
	recordingSince time.Time
}

// currentView derives the camera's view; the caller holds f.mu. A job
// being stopped no longer counts: the camera is idle from the moment its
// window closes.
func (c *camera) currentView() view {
	v := view{job: recorder.StateStopped}
	switch {
	case !c.cfg.IsEnabled():
		v.state = StateDisabled
	case c.run != nil && c.run.liveOnly:
		// Connected for live viewers: the camera is not recording.
		v.state = StateIdle
	case c.run != nil && !c.run.stopping:
		st := c.run.last
		v.job, v.lastError, v.nextRetry, v.recordingSince = st.State, st.LastError, st.NextRetry, st.RecordingSince
		v.state = cameraState(st.State)
	default:
		v.state = StateIdle
	}
	return v
}

// updateView publishes StateChanged when the camera's view changed; the
// caller holds f.mu.
func (f *Fleet) updateView(id string, c *camera) {
	v := c.currentView()
	old := c.shown
	c.shown = v
	if c.published && v.state == old.state && v.job == old.job && v.lastError == old.lastError &&
		v.recordingSince.Equal(old.recordingSince) {
		return
	}
	c.published = true
	f.hub.publish(StateChanged{Base: Base{Camera: id, Time: time.Now()}, State: v.state, Job: v.job,
		LastError: v.lastError, NextRetry: v.nextRetry, RecordingSince: v.recordingSince})
}

// Cameras returns the configured cameras, in config order, with their state.
func (f *Fleet) Cameras() []CameraStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg == nil {
		return nil
	}
	out := make([]CameraStatus, 0, len(f.cfg.Cameras))
	for _, cc := range f.cfg.Cameras {
		c := f.cams[cc.ID]
		if c == nil {
			continue
		}
		st := CameraStatus{ID: cc.ID, Name: cc.Name, State: c.shown.state,
			LastError: c.shown.lastError, RecordingSince: c.shown.recordingSince}
		if c.run != nil && !c.run.stopping {
			st.AudioCodec, st.AudioNote = c.run.last.AudioCodec, c.run.last.AudioNote
		}
		switch {
		case f.leases == nil:
		case f.holds(c):
			st.Node = f.node
		default:
			st.Node = f.holders[cc.ID]
		}
		if st.State == StateIdle && (c.run == nil || c.run.stopping || c.run.liveOnly) {
			_, st.NextWindow = f.runner.State(cc.ID)
		}
		if cc.SubURL != "" {
			st.Sub = &SubStatus{State: c.sub.shown.state, LastError: c.sub.shown.lastError, Recorded: cc.RecordSub}
			if !c.sub.published {
				st.Sub.State = SubIdle
			}
		}
		out = append(out, st)
	}
	return out
}

// Stats returns a camera's counters summed over all its jobs, and the
// arrival of its current job's last frame (zero if none runs).
func (f *Fleet) Stats(id string) (recorder.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cams[id]
	if c == nil {
		return recorder.Status{}, false
	}
	tot := c.totals
	tot.LastFrame = time.Time{}
	if c.run != nil && c.run.job != nil {
		st := c.run.job.Status()
		tot = addTotals(tot, st)
		tot.LastFrame = st.LastFrame
	}
	return tot, true
}

// addTotals adds the counters of a job's status to a running total.
func addTotals(a, b recorder.Status) recorder.Status {
	a.BytesReceived += b.BytesReceived
	a.Frames += b.Frames
	a.Keyframes += b.Keyframes
	a.PacketsLost += b.PacketsLost
	a.SegmentsWritten += b.SegmentsWritten
	a.Reconnects += b.Reconnects
	a.DroppedFrames += b.DroppedFrames
	a.DecodeErrors += b.DecodeErrors
	a.TimeJumps += b.TimeJumps
	return a
}
