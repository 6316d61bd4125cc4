package schedule

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nvr-project/nvr/clock"
)

// maxSleep bounds how long the Runner waits between checks. Timers count
// elapsed time while windows are in wall time, so after an NTP step of the
// system clock a transition is late by at most this much.
const maxSleep = time.Minute

// ErrRunning is returned by Run when the Runner is already running.
var ErrRunning = errors.New("schedule: runner already running")

// Hooks are called by the Runner's goroutine, one call at a time, never
// concurrently. They should hand the work off (signal a recording job) and
// return quickly: a hook that blocks delays every other camera. A hook may
// call the Runner's methods.
type Hooks struct {
	// Start is called when a camera's window opens (or when a camera is added
	// inside one).
	Start func(camera string)
	// Stop is called when a camera's window closes, when an active camera is
	// removed, and for every active camera when Run returns.
	Stop func(camera string)
}

// Runner drives a set of cameras through their schedules. It starts no
// goroutine of its own: Run is its only goroutine, and the caller owns it.
type Runner struct {
	clock clock.Clock
	hooks Hooks
	wake  chan struct{}

	// stepped, when set by a test, receives a value after every pass of the
	// run loop, once the next timer is armed.
	stepped chan struct{}

	mu      sync.Mutex
	cams    map[string]*camState
	running bool
	last    time.Time // clock reading of the previous pass, to notice steps back
}

type camState struct {
	sched   *Schedule
	dirty   bool // schedule set or replaced; evaluate on the next pass
	removed bool
	active  bool // what the hooks were last told
	next    time.Time
	evalAt  time.Time
}

// NewRunner returns a Runner using clk (clock.System() in production) and
// hooks. Nil hooks are treated as no-ops.
func NewRunner(clk clock.Clock, hooks Hooks) *Runner {
	if hooks.Start == nil {
		hooks.Start = func(string) {}
	}
	if hooks.Stop == nil {
		hooks.Stop = func(string) {}
	}
	return &Runner{
		clock: clk,
		hooks: hooks,
		wake:  make(chan struct{}, 1),
		cams:  make(map[string]*camState),
	}
}

// Set adds camera with schedule s, or replaces its schedule (on reload). A
// nil s means "always". If the schedule is Equal to the current one nothing
// happens; if it differs but the camera stays active under the new one, it
// keeps recording without a Stop/Start.
func (r *Runner) Set(camera string, s *Schedule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cams[camera]; ok {
		if !c.removed && c.sched.Equal(s) {
			return
		}
		c.sched, c.dirty, c.removed = s, true, false
	} else {
		r.cams[camera] = &camState{sched: s, dirty: true}
	}
	r.poke()
}

// Remove forgets camera, calling Stop for it if it was active.
func (r *Runner) Remove(camera string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cams[camera]; ok && !c.removed {
		c.removed = true
		r.poke()
	}
}

// State reports whether camera is in a window, as last applied by Run, and
// the time of its next change (the window's end, or the next window's start;
// zero if none is known). An unknown camera is inactive.
func (r *Runner) State(camera string) (active bool, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cams[camera]
	if !ok || c.removed {
		return false, time.Time{}
	}
	return c.active, c.next
}

// poke wakes the run loop; the caller holds r.mu.
func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run calls the hooks as windows open and close until ctx is done, then calls
// Stop for every camera it left active and returns nil. It returns an error
// if a hook panics (after stopping the other active cameras) or if Run is
// already running.
func (r *Runner) Run(ctx context.Context) (err error) {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	r.last = time.Time{}
	for _, c := range r.cams {
		c.dirty = true // a previous Run stopped everything
	}
	// The first pass sees every Set and Remove made so far.
	select {
	case <-r.wake:
	default:
	}
	r.mu.Unlock()

	defer func() {
		err = errors.Join(err, r.stopAll())
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	for {
		d, err := r.pass()
		if err != nil {
			return err
		}
		timer := r.clock.NewTimer(d)
		if r.stepped != nil {
			select {
			case r.stepped <- struct{}{}:
			case <-ctx.Done():
			}
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C():
		case <-r.wake:
			timer.Stop()
		}
	}
}

type hookCall struct {
	camera string
	start  bool
}

// pass evaluates every camera that is due, calls the hooks for the changes,
// and returns how long to wait before the next pass.
func (r *Runner) pass() (time.Duration, error) {
	r.mu.Lock()
	now := r.clock.Now()
	// A wall clock that went back may have put us before a window that we
	// already opened: evaluate everything again.
	back := !r.last.IsZero() && now.Before(r.last)
	r.last = now
	wakeAt := now.Add(maxSleep)
	var calls []hookCall
	for id, c := range r.cams {
		if c.removed {
			if c.active {
				calls = append(calls, hookCall{id, false})
			}
			delete(r.cams, id)
			continue
		}
		due := c.dirty || back || (!c.next.IsZero() && !now.Before(c.next)) ||
			// "No change known" from a long merged window: look again
			// before the horizon runs out.
			(c.next.IsZero() && !c.sched.Always() && now.Sub(c.evalAt) >= MergeHorizon/2)
		if due {
			active, next := c.sched.At(now)
			c.dirty, c.evalAt, c.next = false, now, next
			if active != c.active {
				c.active = active
				calls = append(calls, hookCall{id, active})
			}
		}
		if !c.next.IsZero() && c.next.Before(wakeAt) {
			wakeAt = c.next
		}
	}
	r.mu.Unlock()

	sort.Slice(calls, func(i, j int) bool { return calls[i].camera < calls[j].camera })
	for i, call := range calls {
		if err := r.call(call); err != nil {
			r.undo(calls[i+1:])
			return 0, err
		}
	}
	return wakeAt.Sub(r.clock.Now()), nil
}

// undo restores the state of cameras whose hooks were not called because an
// earlier hook failed, so that stopAll does not stop what never started.
func (r *Runner) undo(calls []hookCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, call := range calls {
		if c, ok := r.cams[call.camera]; ok {
			c.active, c.dirty = !call.start, true
		} else if !call.start {
			// A removed camera whose Stop was not called: keep it so that
			// stopAll stops it.
			r.cams[call.camera] = &camState{active: true, removed: true}
		}
	}
}

// call runs one hook, turning a panic into an error so that a faulty hook
// stops the Runner cleanly instead of crashing the process mid-recording.
func (r *Runner) call(c hookCall) (err error) {
	name, fn := "Stop", r.hooks.Stop
	if c.start {
		name, fn = "Start", r.hooks.Start
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("schedule: hook %s(%q) panicked: %v", name, c.camera, p)
		}
	}()
	fn(c.camera)
	return nil
}

// stopAll calls Stop for every active camera when Run ends.
func (r *Runner) stopAll() error {
	r.mu.Lock()
	var ids []string
	for id, c := range r.cams {
		if c.active {
			ids = append(ids, id)
			c.active = false
		}
		if c.removed {
			delete(r.cams, id)
		}
	}
	r.mu.Unlock()
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		errs = append(errs, r.call(hookCall{id, false}))
	}
	return errors.Join(errs...)
}
