package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin must load on machines without zoneinfo
)

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at parses a Berlin wall time with an explicit offset, so that the DST
// cases say exactly which of two equal wall times they mean.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

type atCase struct {
	name    string
	windows []Window
	t       string // RFC 3339 with the Berlin offset in force
	active  bool
	next    string // "" for zero
}

var atCases = []atCase{
	{"no windows is always", nil, "2026-03-10T12:00:00+01:00", true, ""},
	{"night window open", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-10T23:00:00+01:00", true, "2026-03-11T07:00:00+01:00"},
	{"night window opens at its start", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-10T22:00:00+01:00", true, "2026-03-11T07:00:00+01:00"},
	{"a second before the start", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-10T21:59:59+01:00", false, "2026-03-10T22:00:00+01:00"},
	{"closed at its end (half-open)", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-11T07:00:00+01:00", false, "2026-03-11T22:00:00+01:00"},
	{"crossing midnight, after midnight", []Window{{"0 23 * * *", 2 * time.Hour}}, "2026-03-11T00:30:00+01:00", true, "2026-03-11T01:00:00+01:00"},
	// Spring forward, 2026-03-29 02:00 CET -> 03:00 CEST: 22:00 + 9h ends at
	// 07:00 on the wall, 8 real hours later.
	{"DST spring night ends 07:00 local", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-29T06:59:00+02:00", true, "2026-03-29T07:00:00+02:00"},
	{"DST spring night seen from its start", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-03-28T22:00:00+01:00", true, "2026-03-29T07:00:00+02:00"},
	// Fall back, 2026-10-25 03:00 CEST -> 02:00 CET: 10 real hours.
	{"DST autumn night ends 07:00 local", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-10-24T22:00:00+02:00", true, "2026-10-25T07:00:00+01:00"},
	{"DST autumn night, inside the repeated hour", []Window{{"0 22 * * *", 9 * time.Hour}}, "2026-10-25T02:30:00+01:00", true, "2026-10-25T07:00:00+01:00"},
	// 02:30 does not exist on 2026-03-29: the window opens when the clock
	// jumps (03:00) and ends when the wall reads 03:30.
	{"skipped start opens at the jump", []Window{{"30 2 * * *", time.Hour}}, "2026-03-29T01:59:00+01:00", false, "2026-03-29T03:00:00+02:00"},
	{"skipped start is open after the jump", []Window{{"30 2 * * *", time.Hour}}, "2026-03-29T03:00:00+02:00", true, "2026-03-29T03:30:00+02:00"},
	{"skipped start and end keep the length", []Window{{"30 2 * * *", 10 * time.Minute}}, "2026-03-29T03:05:00+02:00", true, "2026-03-29T03:10:00+02:00"},
	// 02:30 happens twice on 2026-10-25: only the first one opens.
	{"repeated hour opens once (first)", []Window{{"30 2 * * *", 10 * time.Minute}}, "2026-10-25T02:30:00+02:00", true, "2026-10-25T02:40:00+02:00"},
	{"repeated hour does not open twice", []Window{{"30 2 * * *", 10 * time.Minute}}, "2026-10-25T02:30:00+01:00", false, "2026-10-26T02:30:00+01:00"},
	{"hourly for 2h is always on", []Window{{"0 * * * *", 2 * time.Hour}}, "2026-03-29T02:30:00+01:00", true, ""},
	{"adjacent windows merge", []Window{{"0 8 * * *", 2 * time.Hour}, {"0 10 * * *", time.Hour}}, "2026-03-10T09:00:00+01:00", true, "2026-03-10T11:00:00+01:00"},
	{"overlapping windows merge", []Window{{"0 10 * * *", 2 * time.Hour}, {"0 8 * * *", 3 * time.Hour}}, "2026-03-10T08:00:00+01:00", true, "2026-03-10T12:00:00+01:00"},
	{"gap between windows", []Window{{"0 8 * * *", time.Hour}, {"30 9 * * *", time.Hour}}, "2026-03-10T09:10:00+01:00", false, "2026-03-10T09:30:00+01:00"},
	// 2026-03-28 is a Saturday; the weekend spans the spring change: 47 real
	// hours, ending Monday 00:00 on the wall.
	{"weekend across DST", []Window{{"0 0 * * 6", 48 * time.Hour}}, "2026-03-29T12:00:00+02:00", true, "2026-03-30T00:00:00+02:00"},
	{"weekend, next from Friday", []Window{{"0 0 * * 6", 48 * time.Hour}}, "2026-03-27T12:00:00+01:00", false, "2026-03-28T00:00:00+01:00"},
	{"start inside a long window", []Window{{"0 0 1 1 *", 30 * 24 * time.Hour}}, "2026-01-29T10:00:00+01:00", true, "2026-01-31T00:00:00+01:00"},
	{"yearly window far ahead", []Window{{"0 0 1 1 *", time.Hour}}, "2026-03-10T10:00:00+01:00", false, "2027-01-01T00:00:00+01:00"},
	{"descriptor", []Window{{"@daily", time.Hour}}, "2026-03-10T00:59:00+01:00", true, "2026-03-10T01:00:00+01:00"},
	{"leap day", []Window{{"0 0 29 2 *", time.Hour}}, "2026-03-10T10:00:00+01:00", false, "2028-02-29T00:00:00+01:00"},
}

func TestAt(t *testing.T) {
	loc := berlin(t)
	for _, tc := range atCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.windows, loc)
			if err != nil {
				t.Fatal(err)
			}
			active, next := s.At(at(t, tc.t))
			var want time.Time
			if tc.next != "" {
				want = at(t, tc.next)
			}
			if active != tc.active || !next.Equal(want) {
				t.Errorf("At(%s) = %v, %v; want %v, %v", tc.t, active, next.In(loc), tc.active, want.In(loc))
			}
			// The state holds until next and changes there.
			if !next.IsZero() {
				if a, _ := s.At(next.Add(-time.Nanosecond)); a != active {
					t.Errorf("state changed before next")
				}
				if a, _ := s.At(next); a == active {
					t.Errorf("state did not change at next")
				}
			}
		})
	}
}

func TestAtOtherZones(t *testing.T) {
	s, err := New([]Window{{"0 9 * * 1-5", 8 * time.Hour}}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-03-13 is a Friday.
	active, next := s.At(time.Date(2026, 3, 13, 18, 0, 0, 0, time.UTC))
	if active || !next.Equal(time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("got %v %v", active, next)
	}
	// A zone whose DST change is at midnight (America/Santiago springs
	// forward from 00:00 to 01:00): a midnight start opens at 01:00.
	scl, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	s, err = New([]Window{{"0 0 * * *", time.Hour}}, scl)
	if err != nil {
		t.Fatal(err)
	}
	// 2026-09-06 00:00 does not exist in Santiago.
	from := time.Date(2026, 9, 5, 23, 30, 0, 0, scl)
	active, next = s.At(from)
	if active || next.Sub(from) != 30*time.Minute {
		t.Errorf("Santiago: got %v %v (in %v)", active, next.In(scl), next.Sub(from))
	}
}

func TestIntervalsDSTNights(t *testing.T) {
	loc := berlin(t)
	s, err := New([]Window{{"0 22 * * *", 9 * time.Hour}}, loc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from string
		real time.Duration
	}{
		{"2026-03-28T12:00:00+01:00", 8 * time.Hour},
		{"2026-10-24T12:00:00+02:00", 10 * time.Hour},
		{"2026-06-10T12:00:00+02:00", 9 * time.Hour},
	} {
		from := at(t, tc.from)
		ivs := s.Intervals(from, from.Add(24*time.Hour), 10)
		if len(ivs) != 1 {
			t.Fatalf("%s: %d intervals", tc.from, len(ivs))
		}
		if got := ivs[0][1].Sub(ivs[0][0]); got != tc.real {
			t.Errorf("%s: window lasts %v, want %v", tc.from, got, tc.real)
		}
		if h := ivs[0][1].In(loc).Hour(); h != 7 {
			t.Errorf("%s: ends at %d:00 local", tc.from, h)
		}
	}
}

type windowCase struct {
	name string
	w    Window
	want error // nil when valid
	msg  string
}

var windowCases = []windowCase{
	{"valid", Window{"0 22 * * *", 9 * time.Hour}, nil, ""},
	{"descriptor", Window{"@weekly", time.Hour}, nil, ""},
	{"names", Window{"0 8 * jan-mar mon-fri", time.Hour}, nil, ""},
	{"empty", Window{"", time.Hour}, ErrBadSpec, "empty"},
	{"garbage", Window{"every night", time.Hour}, ErrBadSpec, "every night"},
	{"seconds field", Window{"0 0 22 * * *", time.Hour}, ErrBadSpec, "expected exactly 5 fields"},
	{"every", Window{"@every 1h", time.Hour}, ErrBadSpec, "@every"},
	{"tz prefix", Window{"TZ=UTC 0 22 * * *", time.Hour}, ErrBadSpec, "timezone"},
	{"never fires", Window{"0 0 30 2 *", time.Hour}, ErrBadSpec, "never matches"},
	{"minute out of range", Window{"60 * * * *", time.Hour}, ErrBadSpec, "60"},
	{"zero step", Window{"*/0 * * * *", time.Hour}, ErrBadSpec, ""},
	{"too long spec", Window{strings.Repeat("1,", 200) + "1 * * * *", time.Hour}, ErrBadSpec, "longer than"},
	{"zero duration", Window{"0 22 * * *", 0}, ErrBadDuration, "greater than zero"},
	{"negative duration", Window{"0 22 * * *", -time.Hour}, ErrBadDuration, "greater than zero"},
	{"too long duration", Window{"0 22 * * *", MaxWindowDuration + time.Minute}, ErrBadDuration, "longer than"},
}

func TestValidateWindow(t *testing.T) {
	for _, tc := range windowCases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateWindow(tc.w)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %q does not contain %q", err, tc.msg)
			}
			if _, nerr := New([]Window{{"@daily", time.Hour}, tc.w}, time.UTC); nerr == nil || !strings.Contains(nerr.Error(), "window 1") {
				t.Errorf("New error %v does not name window 1", nerr)
			}
		})
	}
}

func TestNewNeedsLocation(t *testing.T) {
	if _, err := New(nil, nil); !errors.Is(err, ErrNoLocation) {
		t.Fatalf("err = %v", err)
	}
}

func TestEqual(t *testing.T) {
	loc := berlin(t)
	mk := func(loc *time.Location, ws ...Window) *Schedule {
		s, err := New(ws, loc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	night := Window{"0 22 * * *", 9 * time.Hour}
	loc2, _ := time.LoadLocation("Europe/Berlin") // a second *Location, same zone
	cases := []struct {
		a, b *Schedule
		want bool
	}{
		{nil, nil, true},
		{nil, mk(loc), true},
		{mk(loc, night), mk(loc2, night), true},
		{mk(loc, night), nil, false},
		{mk(loc, night), mk(time.UTC, night), false},
		{mk(loc, night), mk(loc, Window{"0 22 * * *", 8 * time.Hour}), false},
		{mk(loc, night), mk(loc, night, night), false},
	}
	for i, tc := range cases {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("case %d: Equal = %v", i, got)
		}
		if got := tc.b.Equal(tc.a); got != tc.want {
			t.Errorf("case %d: Equal not symmetric", i)
		}
	}
	if w := mk(loc, night).Windows(); len(w) != 1 || w[0] != night {
		t.Errorf("Windows() = %v", w)
	}
}

// FuzzWindow checks that no cron text or duration panics, and that At's
// answer is consistent: the state holds until next and changes at next.
func FuzzWindow(f *testing.F) {
	for _, tc := range windowCases {
		f.Add(tc.w.Spec, int64(tc.w.Duration/time.Minute), int64(1774746000))
	}
	// Around the Apia skipped day and a Lord Howe change.
	f.Add("30 * * * *", int64(45), int64(1325239200))
	f.Add("0 2 * * *", int64(20), int64(1775314800))
	for _, tc := range atCases {
		for _, w := range tc.windows {
			f.Add(w.Spec, int64(w.Duration/time.Minute), int64(1774746000))
		}
	}
	// Zones with unusual changes: a midnight jump (Santiago), a 30-minute
	// DST (Lord Howe), a skipped day (Apia, 2011-12-30), a 2-hour DST
	// (Troll), quarter-hour offsets (Chatham).
	var locs []*time.Location
	for _, name := range []string{"Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Pacific/Apia", "Antarctica/Troll", "Pacific/Chatham", "UTC"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			f.Fatal(err)
		}
		locs = append(locs, loc)
	}
	f.Fuzz(func(t *testing.T, spec string, minutes int64, unix int64) {
		loc := locs[uint64(unix)%uint64(len(locs))]
		if minutes > int64(MaxWindowDuration/time.Minute)+10 || minutes < -10 {
			minutes %= int64(MaxWindowDuration / time.Minute)
		}
		w := Window{spec, time.Duration(minutes) * time.Minute}
		s, err := New([]Window{w}, loc)
		if err != nil {
			return
		}
		// Keep t in a sane range: years 1970-2200.
		unix %= 7_258_118_400
		if unix < 0 {
			unix = -unix
		}
		ts := time.Unix(unix, 0)
		active, next := s.At(ts)
		if next.IsZero() {
			return
		}
		if !next.After(ts) {
			t.Fatalf("next %v not after %v", next, ts)
		}
		if a, _ := s.At(next.Add(-time.Nanosecond)); a != active {
			t.Fatalf("%q %v in %v at %v: state %v changes before next %v", spec, w.Duration, loc, ts, active, next)
		}
		if a, _ := s.At(next); a == active {
			t.Fatalf("%q %v at %v: state %v does not change at next %v", spec, w.Duration, ts, active, next)
		}
	})
}

func BenchmarkAt(b *testing.B) {
	loc := berlin(b)
	for _, bc := range []struct {
		name string
		ws   []Window
	}{
		{"night", []Window{{"0 22 * * *", 9 * time.Hour}}},
		{"weekend+night", []Window{{"0 22 * * *", 9 * time.Hour}, {"0 0 * * 6", 48 * time.Hour}}},
		{"every-minute-1m", []Window{{"* * * * *", time.Minute}}},
	} {
		s, err := New(bc.ws, loc)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, loc)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.At(t0)
			}
		})
	}
}

func TestAtExtremeTimes(t *testing.T) {
	s, err := New([]Window{{"0 22 * * *", 9 * time.Hour}}, berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []time.Time{{}, time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), time.Unix(-1e10, 0)} {
		active, next := s.At(ts)
		if !next.IsZero() && !next.After(ts) {
			t.Errorf("At(%v) = %v, %v", ts, active, next)
		}
	}
}
