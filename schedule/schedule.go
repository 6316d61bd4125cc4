// Package schedule decides when each camera records.
//
// It owns two things: a Schedule, which turns cron-style recording windows
// ("start at this cron time, record for this long") into "recording or not at
// instant t, and until when", and a Runner, which drives a set of cameras
// through their windows with an injected Clock and calls Start and Stop hooks
// as windows open and close.
//
// It does not own the recording itself (package recorder), the config file
// (package config) or the reload logic (cmd/nvr): callers turn config into
// Windows and hand Schedules to the Runner.
//
// robfig/cron/v3 is used only to parse the cron expressions. Its scheduler is
// not used: it runs jobs concurrently, does not recover panics, defaults to
// time.Local and silently skips start times that a daylight-saving change
// skips. The occurrence arithmetic here is our own so that the DST behaviour
// documented in docs/schedule.md holds.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Bounds on the search for window boundaries.
const (
	// MaxWindowDuration is the longest window accepted. It bounds how far At
	// looks back for a window that may still be open: a month is longer than
	// any recording window a user plausibly writes ("weekends" is 48h).
	MaxWindowDuration = 31 * 24 * time.Hour

	// MergeHorizon bounds how far At follows a chain of merged windows. A
	// schedule such as "0 * * * *" for 2h never closes: once the chain merges
	// a window that starts more than this after t, At reports "active, no
	// change known" (zero next) instead of walking forever. Eight days covers
	// any weekly pattern; a Runner looks again well before it runs out.
	MergeHorizon = 8 * 24 * time.Hour

	// searchYears bounds the search for the next window start: a cron
	// expression that matches nothing within this many years (e.g. "0 0 29 2 *"
	// just after a leap day is fine, "0 0 30 2 *" is not) never fires. It is the
	// same horizon robfig/cron uses.
	searchYears = 5

	// lookbackSlack is added to the longest window when looking back for
	// windows that are still open at t. Durations are wall-clock durations
	// (see docs/schedule.md), so a window can last longer in real time than
	// its nominal duration when clocks go back; two days covers every DST rule
	// and the rare zone that repeated a whole day.
	lookbackSlack = 48 * time.Hour

	// maxSpecLen bounds a cron expression; real ones are a few dozen bytes.
	maxSpecLen = 256
)

// Sentinel errors, so callers (the config validator) can tell which field of a
// window is wrong.
var (
	// ErrBadSpec means a window's cron expression is not accepted.
	ErrBadSpec = errors.New("invalid cron expression")
	// ErrBadDuration means a window's duration is zero, negative or longer
	// than MaxWindowDuration.
	ErrBadDuration = errors.New("invalid window duration")
	// ErrNoLocation means New was called with a nil *time.Location.
	ErrNoLocation = errors.New("schedule: no time zone given (pass time.Local explicitly)")
)

// Window is one recording window: it opens at every time matched by Spec (a
// standard five-field cron expression or a descriptor such as "@daily",
// evaluated in the schedule's time zone) and stays open for Duration.
type Window struct {
	Spec     string
	Duration time.Duration
}

// window is a parsed Window.
type window struct {
	Window
	spec *cron.SpecSchedule
	// hours and minutes list the set bits of spec, ascending, so that the
	// occurrences of a matching day can be listed without a bit scan each.
	hours, minutes []int
}

// Schedule answers when a camera records. A Schedule with no windows (and a
// nil *Schedule) means "always". A Schedule is immutable and safe for
// concurrent use.
type Schedule struct {
	windows []window
	loc     *time.Location
	maxDur  time.Duration
}

// cronParser accepts the five standard fields and the @descriptors. Seconds
// are left out on purpose: a recording window to the second is not something
// a user needs, and minute granularity keeps the search cheap.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ValidateWindow reports whether w is acceptable, with an error that wraps
// ErrBadSpec or ErrBadDuration.
func ValidateWindow(w Window) error {
	_, err := parseWindow(w)
	return err
}

func parseWindow(w Window) (window, error) {
	if w.Duration <= 0 {
		return window{}, fmt.Errorf("%w: %v must be greater than zero", ErrBadDuration, w.Duration)
	}
	if w.Duration > MaxWindowDuration {
		return window{}, fmt.Errorf("%w: %v is longer than the maximum of %v", ErrBadDuration, w.Duration, MaxWindowDuration)
	}
	spec, err := parseSpec(w.Spec)
	if err != nil {
		return window{}, err
	}
	pw := window{Window: w, spec: spec}
	for h := 0; h < 24; h++ {
		if spec.Hour&(1<<uint(h)) != 0 {
			pw.hours = append(pw.hours, h)
		}
	}
	for m := 0; m < 60; m++ {
		if spec.Minute&(1<<uint(m)) != 0 {
			pw.minutes = append(pw.minutes, m)
		}
	}
	if len(pw.hours) == 0 || len(pw.minutes) == 0 || !firesEver(spec) {
		return window{}, fmt.Errorf("%w: %q never matches a date", ErrBadSpec, w.Spec)
	}
	return pw, nil
}

func parseSpec(spec string) (s *cron.SpecSchedule, err error) {
	if len(spec) > maxSpecLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadSpec, maxSpecLen)
	}
	trimmed := strings.TrimSpace(spec)
	if trimmed == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadSpec)
	}
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: %q: a time zone prefix is not allowed here; set the timezone in the config instead", ErrBadSpec, spec)
	}
	if strings.HasPrefix(trimmed, "@every") {
		return nil, fmt.Errorf("%w: %q: @every is an interval, not a time of day; use a cron expression", ErrBadSpec, spec)
	}
	// robfig/cron has panicked on odd input in the past; a config value must
	// never crash the service, so turn any panic into an error.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: %q", ErrBadSpec, spec)
		}
	}()
	parsed, perr := cronParser.Parse(trimmed)
	if perr != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadSpec, spec, perr)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a calendar expression", ErrBadSpec, spec)
	}
	return ss, nil
}

// firesEver reports whether spec matches any day in an eight-year span that
// holds two leap days, which is enough to catch "30 February" and the like.
func firesEver(spec *cron.SpecSchedule) bool {
	d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for end := d.AddDate(8, 0, 0); d.Before(end); d = d.AddDate(0, 0, 1) {
		if spec.Month&(1<<uint(d.Month())) != 0 && dayMatches(spec, d) {
			return true
		}
	}
	return false
}

// New builds a Schedule from windows in loc. No windows means "always".
func New(windows []Window, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		return nil, ErrNoLocation
	}
	s := &Schedule{loc: loc}
	for i, w := range windows {
		pw, err := parseWindow(w)
		if err != nil {
			return nil, fmt.Errorf("schedule: window %d: %w", i, err)
		}
		s.windows = append(s.windows, pw)
		s.maxDur = max(s.maxDur, w.Duration)
	}
	return s, nil
}

// Always reports whether the schedule has no windows, i.e. records always.
func (s *Schedule) Always() bool { return s == nil || len(s.windows) == 0 }

// Location returns the time zone the windows are evaluated in (nil for a nil
// Schedule).
func (s *Schedule) Location() *time.Location {
	if s == nil {
		return nil
	}
	return s.loc
}

// Windows returns a copy of the schedule's windows.
func (s *Schedule) Windows() []Window {
	if s == nil {
		return nil
	}
	out := make([]Window, len(s.windows))
	for i, w := range s.windows {
		out[i] = w.Window
	}
	return out
}

// Equal reports whether s and o describe the same windows in the same time
// zone (by name), so that a reload can leave an unchanged camera alone. A nil
// Schedule equals an empty one: both mean "always".
func (s *Schedule) Equal(o *Schedule) bool {
	if s.Always() || o.Always() {
		return s.Always() && o.Always()
	}
	if s.loc.String() != o.loc.String() || len(s.windows) != len(o.windows) {
		return false
	}
	for i := range s.windows {
		if s.windows[i].Window != o.windows[i].Window {
			return false
		}
	}
	return true
}

// At reports whether t is inside a window (overlapping and adjacent windows
// merged into one) and the time of the next change: the end of the current
// merged window, or the start of the next one. next is zero when nothing
// changes: the schedule is always on, no window starts within five years, or
// the current merged window keeps merging windows that start beyond
// MergeHorizon. Windows are
// half-open: active at their start, inactive at their end.
func (s *Schedule) At(t time.Time) (active bool, next time.Time) {
	if s.Always() {
		return true, time.Time{}
	}
	m := s.newMerger(t)
	chain := false
	var chainEnd time.Time
	for {
		iv, ok := m.next()
		if !ok {
			break
		}
		if !iv.end.After(t) {
			continue // over before t; cannot matter
		}
		if !chain {
			if iv.start.After(t) {
				return false, iv.start
			}
			chain, chainEnd = true, iv.end
			continue
		}
		if iv.start.After(chainEnd) {
			return true, chainEnd
		}
		if iv.start.Sub(t) > MergeHorizon {
			return true, time.Time{}
		}
		if iv.end.After(chainEnd) {
			chainEnd = iv.end
		}
	}
	if chain {
		return true, chainEnd
	}
	return false, time.Time{}
}

// Intervals returns the merged recording intervals that overlap [from, to),
// clipped to it, in order. It is meant for tests, previews and the API; it
// stops after limit intervals.
func (s *Schedule) Intervals(from, to time.Time, limit int) [][2]time.Time {
	var out [][2]time.Time
	t := from
	for len(out) < limit && t.Before(to) {
		active, next := s.At(t)
		if next.IsZero() || next.After(to) {
			next = to
		}
		if active {
			out = append(out, [2]time.Time{t, next})
		}
		if !next.After(t) {
			break
		}
		t = next
	}
	return out
}

// interval is one window occurrence, [start, end).
type interval struct{ start, end time.Time }

// merger yields the occurrences of all windows in order of start.
type merger struct {
	its   []*occIter
	heads []interval
	ok    []bool
}

func (s *Schedule) newMerger(t time.Time) *merger {
	from := t.Add(-(s.maxDur + lookbackSlack)).In(s.loc)
	// Start a day early: the wall-clock date of "from" may differ by a day
	// from the date on which an occurrence that matters was listed.
	first := civilDate(from).AddDate(0, 0, -1)
	last := civilDate(t.In(s.loc)).AddDate(searchYears, 0, 1)
	m := &merger{}
	for i := range s.windows {
		it := &occIter{w: &s.windows[i], loc: s.loc, day: first, last: last, zc: zoneCache{loc: s.loc}}
		it.dayOK = it.matches()
		m.its = append(m.its, it)
		iv, ok := it.next()
		m.heads = append(m.heads, iv)
		m.ok = append(m.ok, ok)
	}
	return m
}

func (m *merger) next() (interval, bool) {
	best := -1
	for i, ok := range m.ok {
		if ok && (best < 0 || m.heads[i].start.Before(m.heads[best].start)) {
			best = i
		}
	}
	if best < 0 {
		return interval{}, false
	}
	iv := m.heads[best]
	m.heads[best], m.ok[best] = m.its[best].next()
	return iv, true
}

// occIter lists the occurrences of one window day by day in wall-clock time.
type occIter struct {
	w      *window
	loc    *time.Location
	day    time.Time // civil midnight (in UTC) of the day being listed
	last   time.Time // civil date after which the search gives up
	dayOK  bool
	hi, mi int
	zc     zoneCache
}

func (it *occIter) matches() bool {
	return it.w.spec.Month&(1<<uint(it.day.Month())) != 0 && dayMatches(it.w.spec, it.day)
}

func (it *occIter) next() (interval, bool) {
	for {
		if it.day.After(it.last) {
			return interval{}, false
		}
		if it.dayOK && it.hi < len(it.w.hours) {
			wall := it.day.Add(time.Duration(it.w.hours[it.hi])*time.Hour + time.Duration(it.w.minutes[it.mi])*time.Minute)
			it.mi++
			if it.mi == len(it.w.minutes) {
				it.mi = 0
				it.hi++
			}
			return occurrence(wall, it.w.Duration, &it.zc), true
		}
		it.day = it.day.AddDate(0, 0, 1)
		it.hi, it.mi = 0, 0
		it.dayOK = it.matches()
	}
}

// occurrence turns a wall-clock start into real instants. The end is the
// instant the wall clock reads start+d (so "22:00 for 9h" ends at 07:00 local
// on DST nights too); a start the clock skips opens when the clock jumps; a
// wall time that happens twice means its first instant. If the end would not
// come after the start (both inside the same skipped hour), the window keeps
// its nominal length from the jump instead of vanishing.
func occurrence(wallStart time.Time, d time.Duration, zc *zoneCache) interval {
	start := zc.resolve(wallStart)
	end := zc.resolve(wallStart.Add(d))
	if !end.After(start) {
		end = start.Add(d)
	}
	return interval{start, end}
}

// zoneCache remembers the zone period (constant UTC offset) of the last
// resolved time, so that most wall times resolve by arithmetic alone.
type zoneCache struct {
	loc    *time.Location
	ok     bool
	zs, ze time.Time // bounds of the period; zero means unbounded
	off    time.Duration
}

// resolve is resolve(wall, zc.loc), fast when wall lies well inside the
// cached period. Margin: a day from either bound, more than any UTC offset
// change, so that no other instant can share the wall time.
func (zc *zoneCache) resolve(wall time.Time) time.Time {
	const margin = 24 * time.Hour
	if zc.ok {
		c := wall.Add(-zc.off)
		if (zc.zs.IsZero() || c.Sub(zc.zs) >= margin) && (zc.ze.IsZero() || zc.ze.Sub(c) >= margin) {
			return c.In(zc.loc)
		}
	}
	r := resolve(wall, zc.loc)
	zc.zs, zc.ze = r.ZoneBounds()
	_, off := r.Zone()
	zc.off, zc.ok = time.Duration(off)*time.Second, true
	return r
}

// resolve returns the earliest instant whose wall clock in loc reads wall (a
// civil time carried in UTC), or, when the clock skips that wall time, the
// instant at which it jumps past it.
func resolve(wall time.Time, loc *time.Location) time.Time {
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	zs, ze := t.ZoneBounds()
	best := time.Time{}
	try := func(offsetSec int) {
		c := wall.Add(-time.Duration(offsetSec) * time.Second).In(loc)
		if civil(c).Equal(wall) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	_, off := t.Zone()
	try(off)
	if !zs.IsZero() {
		_, o := zs.Add(-time.Nanosecond).Zone()
		try(o)
	}
	if !ze.IsZero() {
		_, o := ze.Zone()
		try(o)
	}
	if !best.IsZero() {
		return best
	}
	// The wall time does not exist: Go picked an instant on one side of the
	// gap; the gap ends at the boundary of that instant's zone.
	if civil(t).After(wall) {
		return zs
	}
	return ze
}

// civil returns t's wall clock as a time in UTC, so that wall-clock
// arithmetic (adding hours, comparing) ignores zone offsets.
func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func civilDate(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// dayMatches applies cron's day rule: when either day field is "*", both must
// match; otherwise either may (the classic Vixie cron behaviour robfig/cron
// follows).
func dayMatches(s *cron.SpecSchedule, d time.Time) bool {
	const starBit = 1 << 63
	dom := s.Dom&(1<<uint(d.Day())) != 0
	dow := s.Dow&(1<<uint(d.Weekday())) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}
