package schedule

import (
	"time"

	"github.com/nvr-project/nvr/clock"
)

// The Runner's clock is clock.Clock, nvr's one abstraction of time. These
// aliases keep callers that still name it through schedule compiling.
type (
	Clock     = clock.Clock
	Timer     = clock.Timer
	FakeClock = clock.Fake
)

// SystemClock is clock.System.
func SystemClock() Clock { return clock.System() }

// NewFakeClock is clock.NewFake.
func NewFakeClock(now time.Time) *FakeClock { return clock.NewFake(now) }
