package schedule

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/clock"
)

// harness runs a Runner on a FakeClock and records hook calls with the fake
// time at which they happened.
type harness struct {
	t      *testing.T
	loc    *time.Location
	clk    *clock.Fake
	r      *Runner
	mu     sync.Mutex
	events []string
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, start string) *harness {
	t.Helper()
	h := &harness{t: t, loc: berlin(t), clk: clock.NewFake(at(t, start))}
	rec := func(kind string) func(string) {
		return func(cam string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, kind+" "+cam+" "+h.clk.Now().In(h.loc).Format(time.RFC3339))
		}
	}
	h.r = NewRunner(h.clk, Hooks{Start: rec("start"), Stop: rec("stop")})
	h.r.stepped = make(chan struct{})
	return h
}

func (h *harness) sched(ws ...Window) *Schedule {
	h.t.Helper()
	s, err := New(ws, h.loc)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// run starts Run and waits for its first pass.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.r.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			h.t.Error("Run did not return")
		}
	})
	h.waitPass()
}

// stop cancels Run and returns its error.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for Cleanup
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

func (h *harness) waitPass() {
	h.t.Helper()
	select {
	case <-h.r.stepped:
	case <-time.After(5 * time.Second):
		h.t.Fatal("runner made no pass")
	}
}

// advance moves the clock in steps no longer than the runner's longest
// sleep, letting the runner make a pass whenever its timer fires.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	for d > 0 {
		step := min(d, maxSleep)
		d -= step
		// The runner has one timer at a time; once it fires, wait for the
		// pass it causes before moving on.
		if h.clk.Advance(step) > 0 {
			h.waitPass()
		}
	}
}

// take returns the hook calls since the last take.
func (h *harness) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := h.events
	h.events = nil
	return ev
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	got := h.take()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("hook calls:\n got %q\nwant %q", got, want)
	}
}

func TestRunnerOpenClose(t *testing.T) {
	h := newHarness(t, "2026-03-10T12:00:00+01:00")
	h.r.Set("shop", h.sched(Window{"0 22 * * *", 9 * time.Hour}))
	h.run()
	h.expect()
	if a, next := h.r.State("shop"); a || !next.Equal(at(t, "2026-03-10T22:00:00+01:00")) {
		t.Errorf("State = %v %v", a, next)
	}
	h.advance(9*time.Hour + 59*time.Minute)
	h.expect()
	h.advance(time.Minute)
	h.expect("start shop 2026-03-10T22:00:00+01:00")
	if a, next := h.r.State("shop"); !a || !next.Equal(at(t, "2026-03-11T07:00:00+01:00")) {
		t.Errorf("State = %v %v", a, next)
	}
	h.advance(9 * time.Hour)
	h.expect("stop shop 2026-03-11T07:00:00+01:00")
}

func TestRunnerMerge(t *testing.T) {
	h := newHarness(t, "2026-03-10T07:00:00+01:00")
	h.r.Set("a", h.sched(Window{"0 8 * * *", 2 * time.Hour}, Window{"0 10 * * *", time.Hour}, Window{"30 10 * * *", time.Hour}))
	h.run()
	h.advance(5 * time.Hour)
	h.expect("start a 2026-03-10T08:00:00+01:00", "stop a 2026-03-10T11:30:00+01:00")
}

func TestRunnerDST(t *testing.T) {
	cases := []struct {
		name  string
		start string
		w     Window
		run   time.Duration
		want  []string
	}{
		{
			// 8 real hours: the window ends when the wall clock reads 07:00.
			"spring night", "2026-03-28T21:00:00+01:00", Window{"0 22 * * *", 9 * time.Hour}, 11 * time.Hour,
			[]string{"start cam 2026-03-28T22:00:00+01:00", "stop cam 2026-03-29T07:00:00+02:00"},
		},
		{
			"autumn night", "2026-10-24T21:00:00+02:00", Window{"0 22 * * *", 9 * time.Hour}, 12 * time.Hour,
			[]string{"start cam 2026-10-24T22:00:00+02:00", "stop cam 2026-10-25T07:00:00+01:00"},
		},
		{
			// 02:30 is skipped: the window opens at the jump, 03:00 CEST.
			"spring skipped start", "2026-03-29T01:00:00+01:00", Window{"30 2 * * *", time.Hour}, 3 * time.Hour,
			[]string{"start cam 2026-03-29T03:00:00+02:00", "stop cam 2026-03-29T03:30:00+02:00"},
		},
		{
			// 02:30 happens twice: one window, at the first.
			"autumn repeated hour", "2026-10-25T02:00:00+02:00", Window{"30 2 * * *", 10 * time.Minute}, 3 * time.Hour,
			[]string{"start cam 2026-10-25T02:30:00+02:00", "stop cam 2026-10-25T02:40:00+02:00"},
		},
		{
			// Every 30 minutes for 30 minutes across the repeated hour: one
			// continuous recording, no Stop/Start at the change.
			"autumn continuous", "2026-10-25T01:00:00+02:00", Window{"*/30 1-3 * * *", 30 * time.Minute}, 5 * time.Hour,
			[]string{"start cam 2026-10-25T01:00:00+02:00", "stop cam 2026-10-25T04:00:00+01:00"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start)
			h.r.Set("cam", h.sched(tc.w))
			h.run()
			h.advance(tc.run)
			h.expect(tc.want...)
		})
	}
}

func TestRunnerStartInsideWindow(t *testing.T) {
	h := newHarness(t, "2026-03-11T03:00:00+01:00")
	h.r.Set("shop", h.sched(Window{"0 22 * * *", 9 * time.Hour}))
	h.r.Set("always", nil)
	h.run()
	h.expect("start always 2026-03-11T03:00:00+01:00", "start shop 2026-03-11T03:00:00+01:00")
	h.advance(4 * time.Hour)
	h.expect("stop shop 2026-03-11T07:00:00+01:00")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	// Run stops what it started.
	h.expect("stop always 2026-03-11T07:00:00+01:00")
}

func TestRunnerReload(t *testing.T) {
	h := newHarness(t, "2026-03-10T23:00:00+01:00")
	night := h.sched(Window{"0 22 * * *", 9 * time.Hour})
	h.r.Set("shop", night)
	h.run()
	h.expect("start shop 2026-03-10T23:00:00+01:00")

	// The same schedule again (a reload of an unchanged config): nothing to do.
	h.r.Set("shop", h.sched(Window{"0 22 * * *", 9 * time.Hour}))
	if len(h.r.wake) != 0 {
		t.Fatal("an unchanged schedule woke the runner")
	}
	// A changed schedule under which the camera is still active: no break,
	// but the new end applies.
	h.r.Set("shop", h.sched(Window{"0 22 * * *", 8 * time.Hour}))
	h.waitPass()
	h.expect()
	if _, next := h.r.State("shop"); !next.Equal(at(t, "2026-03-11T06:00:00+01:00")) {
		t.Errorf("next = %v", next)
	}
	// A schedule that no longer covers now: Stop at once.
	h.r.Set("shop", h.sched(Window{"0 8 * * *", time.Hour}))
	h.waitPass()
	h.expect("stop shop 2026-03-10T23:00:00+01:00")
	// Back to one that does: Start at once.
	h.r.Set("shop", nil)
	h.waitPass()
	h.expect("start shop 2026-03-10T23:00:00+01:00")
	// Remove stops it; the camera is then unknown.
	h.r.Remove("shop")
	h.waitPass()
	h.expect("stop shop 2026-03-10T23:00:00+01:00")
	if a, next := h.r.State("shop"); a || !next.IsZero() {
		t.Errorf("removed camera State = %v %v", a, next)
	}
	// Removing twice or removing an unknown camera is harmless.
	h.r.Remove("shop")
	h.r.Remove("nope")
	if len(h.r.wake) != 0 {
		t.Fatal("removing an unknown camera woke the runner")
	}
}

// Remove then Set before the runner gets to it (a reload that replaces a
// camera): the camera never stops.
func TestRunnerRemoveThenSet(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var events []string
	inHook, release := make(chan struct{}), make(chan struct{})
	r := NewRunner(clk, Hooks{
		Start: func(cam string) {
			mu.Lock()
			events = append(events, "start "+cam)
			mu.Unlock()
			if cam == "gate" {
				inHook <- struct{}{}
				<-release
			}
		},
		Stop: func(cam string) {
			mu.Lock()
			events = append(events, "stop "+cam)
			mu.Unlock()
		},
	})
	r.stepped = make(chan struct{})
	r.Set("yard", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.stepped
	// Hold the runner inside a hook while the reload happens.
	r.Set("gate", nil)
	<-inHook
	r.Remove("yard")
	r.Set("yard", nil)
	close(release)
	<-r.stepped // the pass that ran the gate hook
	<-r.stepped // the pass that saw Remove and Set together
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []string{"start yard", "start gate", "stop gate", "stop yard"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
}

// F12 (ntp-step): the wall clock steps while timers count elapsed time.
func TestRunnerClockStep(t *testing.T) {
	h := newHarness(t, "2026-03-10T21:00:00+01:00")
	h.r.Set("shop", h.sched(Window{"0 22 * * *", 9 * time.Hour}))
	h.run()
	// Forward two hours: the window is noticed within maxSleep.
	h.clk.Step(at(t, "2026-03-10T23:00:00+01:00"))
	h.advance(maxSleep)
	h.expect("start shop 2026-03-10T23:01:00+01:00")
	// Back to before the window: it closes, and opens again at 22:00.
	h.clk.Step(at(t, "2026-03-10T21:00:00+01:00"))
	h.advance(maxSleep)
	h.expect("stop shop 2026-03-10T21:01:00+01:00")
	h.advance(59 * time.Minute)
	h.expect("start shop 2026-03-10T22:00:00+01:00")
}

func TestRunnerHookPanic(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	var stopped []string
	r := NewRunner(clk, Hooks{
		Start: func(cam string) {
			if cam == "bad" {
				panic("boom")
			}
		},
		Stop: func(cam string) { stopped = append(stopped, cam) },
	})
	r.Set("bad", nil)
	r.Set("good", nil)
	err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `Start("bad") panicked: boom`) {
		t.Fatalf("err = %v", err)
	}
	// "bad" sorts first, so "good" was never started; "bad" is stopped.
	if !reflect.DeepEqual(stopped, []string{"bad"}) {
		t.Errorf("stopped %v", stopped)
	}
}

func TestRunnerRunTwice(t *testing.T) {
	h := newHarness(t, "2026-03-10T12:00:00+01:00")
	h.run()
	if err := h.r.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// Runner leaves no goroutine behind on the real clock.
func TestRunnerNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		r := NewRunner(clock.System(), Hooks{})
		r.Set("a", nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// The goroutines above have returned; give the runtime a moment to
	// retire them before counting.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left behind", n-before)
	}
}

// A merged window longer than MergeHorizon has no known end at first
// (zero next); the Runner looks again and still stops it on time.
func TestRunnerLongMergedWindow(t *testing.T) {
	h := newHarness(t, "2027-01-01T00:30:00+01:00")
	// Hourly for 2h on January 1-12: one recording until 13 Jan 01:00.
	h.r.Set("cam", h.sched(Window{"0 * 1-12 1 *", 2 * time.Hour}))
	h.run()
	h.expect("start cam 2027-01-01T00:30:00+01:00")
	if a, next := h.r.State("cam"); !a || !next.IsZero() {
		t.Fatalf("State = %v %v, want active with no known end", a, next)
	}
	h.advance(12*24*time.Hour + time.Hour)
	h.expect("stop cam 2027-01-13T01:00:00+01:00")
}
