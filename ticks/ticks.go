// Package ticks converts between nvr's media time unit, the 90 kHz tick of
// the H.264 RTP clock (RFC 6184 §5.1) and of the MP4 files' timescale, and
// nanoseconds, the unit of wall time in the index (docs/time.md).
//
// It is the one home of that arithmetic: every package that turns a
// duration_90k into nanoseconds or back calls it, so the rounding and the
// overflow behaviour are the same everywhere.
package ticks

import (
	"math"
	"time"
)

// PerSecond is the number of ticks in a second.
const PerSecond = 90000

// ToNS converts ticks to nanoseconds, rounding toward zero. It is exact for
// every tick count whose result fits in int64 (about ±292 years) and
// saturates at math.MaxInt64 / math.MinInt64 beyond: the naive
// ticks*1e9/90000 overflows already past about 28 hours of ticks.
//
// 1e9/90000 = 100000/9, so ticks = 9q + r gives q*100000 + r*100000/9
// without any intermediate product larger than the result.
func ToNS(t int64) int64 {
	q, r := t/9, t%9
	if q > math.MaxInt64/100000 {
		return math.MaxInt64
	}
	if q < math.MinInt64/100000 {
		return math.MinInt64
	}
	hi, lo := q*100000, r*100000/9 // lo has the sign of t, |lo| < 100000
	s := hi + lo
	switch {
	case lo > 0 && s < hi:
		return math.MaxInt64
	case lo < 0 && s > hi:
		return math.MinInt64
	}
	return s
}

// FromNS converts nanoseconds to ticks, rounding toward zero. It cannot
// overflow: the result is smaller in magnitude than ns.
func FromNS(ns int64) int64 {
	return (ns/100000)*9 + (ns%100000)*9/100000
}

// FromDuration is FromNS for a time.Duration.
func FromDuration(d time.Duration) int64 { return FromNS(int64(d)) }

// Duration is ToNS as a time.Duration.
func Duration(t int64) time.Duration { return time.Duration(ToNS(t)) }

// FromTimescale converts a duration counted in units of 1/timescale s (an
// MP4 track's timescale) to ticks, rounding toward zero and saturating
// like ToNS. A timescale of 0 or PerSecond means d is in ticks already
// (nvr's own segments; an orphan file from elsewhere may differ).
func FromTimescale(d int64, timescale uint32) int64 {
	if timescale == 0 || timescale == PerSecond {
		return d
	}
	ts := int64(timescale)
	q, r := d/ts, d%ts
	switch {
	case q > math.MaxInt64/PerSecond:
		return math.MaxInt64
	case q < math.MinInt64/PerSecond:
		return math.MinInt64
	}
	// |r*PerSecond/ts| < PerSecond, and q*PerSecond is at most
	// MaxInt64/PerSecond*PerSecond, so the sum can pass the int64 range
	// only by less than PerSecond: check as in ToNS.
	hi, lo := q*PerSecond, r*PerSecond/ts
	s := hi + lo
	switch {
	case lo > 0 && s < hi:
		return math.MaxInt64
	case lo < 0 && s > hi:
		return math.MinInt64
	}
	return s
}
