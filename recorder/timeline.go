package recorder

import "github.com/nvr-project/nvr/ticks"

// The time model is described in docs/time.md; this file is its arithmetic.

const (
	// slewDivisor limits the wall-clock correction of a segment to
	// 1/200 = 0.5 % of its media duration: five times the 0.1 % camera
	// clock drift we promise to follow, small enough that jitter and
	// clock steps never give an absurd duration (docs/time.md).
	slewDivisor = 200

	// maxForwardJump90k is the largest forward DTS step accepted inside a
	// run; a bigger one (a camera clock reset, R15) starts a new run, as
	// retina's timeline and mediamtx's recorder do.
	maxForwardJump90k = 10 * ticks.PerSecond

	// defaultFrame90k is the duration given to the last frame of a run
	// when there was no earlier frame to measure one (1/30 s).
	defaultFrame90k = 3000
)

// slewedEnd returns a segment's wall-clock end: its start plus its exact
// media duration, moved toward the observed local time of its end by at
// most 0.5 % of the duration. The result is never before startNS for a
// non-negative duration.
func slewedEnd(startNS, dur90k, observedNS int64) int64 {
	durNS := ticks.ToNS(dur90k)
	predicted := startNS + durNS
	limit := max(durNS/slewDivisor, 0)
	// Differences are taken as uint64 so that absurd clocks (far past or
	// future) clamp instead of overflowing.
	var diff int64
	if observedNS >= predicted {
		diff = limit
		if d := uint64(observedNS) - uint64(predicted); d < uint64(limit) {
			diff = int64(d)
		}
	} else {
		diff = -limit
		if d := uint64(predicted) - uint64(observedNS); d < uint64(limit) {
			diff = -int64(d)
		}
	}
	return predicted + diff
}
