package recorder

import (
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/ticks"
)

// TestBufferedFramesAtSessionStart (QUIRKS: "frames buffered before
// session start", moonfire-nvr design/time.md): a camera that sends the
// last 2 s it had buffered in one burst at PLAY, then live. The run is
// anchored at the burst's arrival, so the index starts 2 s late; that
// error must never bend a segment's wall length by more than the 0.5 %
// slew (no 2 s gap or squeeze in one segment) and must shrink segment by
// segment as the slew pulls the index toward the local clock.
// RTCP sender reports are not used at all (their presence and accuracy
// depend on the firmware, Hikvision), so none are fed.
func TestBufferedFramesAtSessionStart(t *testing.T) {
	const burst = 2 * time.Second
	env := newTestEnv(t, Config{SegmentDuration: 10 * time.Second, FsyncInterval: time.Hour}, nil)
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipMain720) // 4 s, GOP 2 s
	ps := clipParams(t, c)
	first := c.Frames[0].DTS
	n := 0
	var lastArrival time.Time
	for l := range 20 { // 80 s of media
		off := -first + int64(l)*c.Duration
		for _, f := range c.Frames {
			media := time.Duration(ticks.ToNS(f.DTS + off))
			// Frames of the first 2 s all arrive at t0, the rest live.
			arrival := t0.Add(max(media-burst, 0))
			lastArrival = arrival
			if err := s.handle(item(f, ps, off, arrival)); err != nil {
				t.Fatalf("frame %d: %v", n, err)
			}
			n++
		}
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, env, n) // abutting, exact media, slew within 0.5 %
	rows := env.store.segments()
	if len(rows) < 5 {
		t.Fatalf("%d segments, want several", len(rows))
	}
	if rows[0].StartNS != t0.UnixNano() {
		t.Errorf("run anchored at %v, want the burst's arrival %v", time.Unix(0, rows[0].StartNS).UTC(), t0)
	}
	// Where the index says the recording ends vs when the last frame
	// really arrived (plus its duration): the 2 s start error, reduced.
	last := rows[len(rows)-1]
	errEnd := time.Duration(last.EndNS - lastArrival.Add(40*time.Millisecond).UnixNano())
	if errEnd <= 0 || errEnd > burst-300*time.Millisecond {
		t.Errorf("index ends %v after the local clock, want between 0 and %v (2 s burst slewed by 0.5 %% over 80 s)", errEnd, burst-300*time.Millisecond)
	}
}
