// Package clock is nvr's one abstraction of time: a Clock reads the wall
// clock and makes timers that count elapsed (monotonic) time. System is
// the real one; Fake lets tests move wall time and elapsed time by hand,
// so schedules, backoff, watchdogs and time anchoring are tested without
// sleeping. The schedule runner, the recorder, the index and the API all
// take a Clock.
package clock

import (
	"sync"
	"time"
)

// Clock is a source of time. System is the real one; Fake lets tests move
// time by hand.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that nvr uses.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// System returns the real clock.
func System() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }

// Fake is a Clock for tests. Its wall time moves only by Advance (which
// also runs timers, like real elapsed time) and Step (a wall-clock jump such
// as an NTP correction, which does not run timers: real timers count elapsed
// time, not wall time).
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	mono   time.Duration // elapsed time, moved only by Advance
	timers []*fakeTimer
}

// NewFake returns a Fake reading now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

// Now returns the fake wall time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires once Advance has moved the clock d
// further.
func (c *Fake) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.mono + d}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d, fires every timer that is due and
// returns how many fired.
func (c *Fake) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.mono += d
	kept := c.timers[:0]
	fired := 0
	for _, t := range c.timers {
		if t.at <= c.mono {
			t.ch <- c.now // buffered, and each timer fires once
			fired++
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
	return fired
}

// Step sets the wall time to now without running timers, as when NTP steps
// the system clock.
func (c *Fake) Step(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// Pending returns the number of timers that have not fired or been stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c  *Fake
	ch chan time.Time
	at time.Duration
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
