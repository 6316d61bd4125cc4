package fleet

import (
	"errors"
	"sync"
	"time"

	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/storage"
)

// Event is something that happened to a camera of the fleet. The types in
// this file are all there is: a subscriber switches on them.
type Event interface {
	// CameraID is the camera the event is about ("" for Missed).
	CameraID() string
	base() Base
}

// Base is what every event carries.
type Base struct {
	Camera string    // camera id
	Time   time.Time // when the fleet learnt of it
}

// CameraID implements Event.
func (b Base) CameraID() string { return b.Camera }
func (b Base) base() Base       { return b }

// StateChanged: the camera's state, its job's state or its last error
// changed. The fleet's own view (Cameras, metrics) is folded from these.
type StateChanged struct {
	Base
	State          State          // the camera's state
	Job            recorder.State // its job's state; StateStopped when no job runs
	LastError      string         // the job's last failure, redacted; "" when no job runs
	NextRetry      time.Time      // when Job is retrying
	RecordingSince time.Time      // start of the current run, when recording
}

// SubStateChanged: the state of the camera's sub stream session or its
// last error changed. It is the sub stream's only event: its failures are
// not JobFailed, which is about the camera's recording.
type SubStateChanged struct {
	Base
	State     SubState
	LastError string // redacted; "" when no session runs
}

// JobFailed: a camera's job reported a failure. Err's message is
// redacted (no password); errors.Is sees its cause, and matches
// ErrDiskFull when the filesystem is full.
type JobFailed struct {
	Base
	Err error
}

// TimeJumped: the camera's RTP timestamps jumped (RELIABILITY R15); the
// job closed its segment and started a new run. Jumps counts them over the
// job's life. It is reported once the new run has started.
type TimeJumped struct {
	Base
	Jumps uint64
}

// SegmentOpened: a job created a segment (its row is in state recording).
type SegmentOpened struct {
	Base
	Segment storage.Segment
}

// SegmentGrew: a job synced an open segment and recorded its new size.
type SegmentGrew struct {
	Base
	Segment storage.Segment
}

// SegmentFinished: a job finalised a segment (state complete).
type SegmentFinished struct {
	Base
	Segment storage.Segment
}

// SegmentDeleted: retention deleted a segment's file and row.
type SegmentDeleted struct {
	Base
	Segment storage.Segment
}

// Missed tells a subscriber that Count events were dropped because its
// buffer was full. It comes in their place, before the next event that
// fits, so a subscriber that keeps state can resynchronise (read Cameras).
type Missed struct {
	Base
	Count uint64
}

// ErrDiskFull is matched by errors.Is on a JobFailed error caused by a
// full filesystem (ENOSPC) or an exhausted quota (EDQUOT).
var ErrDiskFull = errors.New("fleet: disk full")

// jobError is a job's failure as the fleet hands it out: ErrDiskFull is
// recognised here, once, instead of by each subscriber.
type jobError struct{ err error }

func (e jobError) Error() string { return e.err.Error() }
func (e jobError) Unwrap() error { return e.err }
func (e jobError) Is(target error) bool {
	return target == ErrDiskFull && storage.IsFull(e.err)
}

// Subscription buffer sizes.
const (
	// DefaultBuffer is the buffer of Subscribe(0): a few seconds of
	// events from a hundred cameras.
	DefaultBuffer = 256
	// MaxBuffer bounds a subscription's buffer (memory per subscriber).
	MaxBuffer = 1 << 16
)

// Subscription receives the fleet's events in order. When its buffer is
// full, events are dropped (never waited for: recording does not wait for
// a subscriber) and counted, and a Missed event says so once there is room.
type Subscription struct {
	h       *hub
	c       chan Event
	missed  uint64 // dropped since the last Missed was delivered; under h.mu
	dropped uint64 // dropped in all; under h.mu
	closed  bool   // under h.mu
}

// Events returns the channel of events; it is closed by Close and when
// the fleet closes (after its last event).
func (s *Subscription) Events() <-chan Event { return s.c }

// Dropped returns how many events were dropped for this subscriber.
func (s *Subscription) Dropped() uint64 {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.dropped
}

// Close ends the subscription and closes its channel.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.remove(s)
}

// hub hands every published event to every subscription.
type hub struct {
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	closed  bool
	dropped uint64 // over all subscriptions, for metrics
}

func (h *hub) subscribe(buf int) *Subscription {
	if buf <= 0 {
		buf = DefaultBuffer
	}
	s := &Subscription{h: h, c: make(chan Event, min(buf, MaxBuffer))}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		close(s.c)
		return s
	}
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

// publish offers ev to every subscription without blocking.
func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.offer(s, ev)
	}
}

// offer delivers ev to s, or counts it as missed; the caller holds h.mu.
func (h *hub) offer(s *Subscription, ev Event) {
	if s.missed > 0 {
		select {
		case s.c <- Missed{Base: Base{Time: ev.base().Time}, Count: s.missed}:
			s.missed = 0
		default:
			s.missed++
			s.dropped++
			h.dropped++
			return
		}
	}
	select {
	case s.c <- ev:
	default:
		s.missed++
		s.dropped++
		h.dropped++
	}
}

// remove closes s; the caller holds h.mu.
func (h *hub) remove(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	delete(h.subs, s)
	close(s.c)
}

// close ends every subscription; later publishes are dropped silently.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.remove(s)
	}
}

func (h *hub) droppedTotal() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}
