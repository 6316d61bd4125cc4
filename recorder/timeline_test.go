package recorder

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/ticks"
)

var slewCases = []struct {
	name                      string
	start, dur90k, observedNS int64
	want                      int64
}{
	{"on time", 0, 90000 * 60, 60e9, 60e9},
	{"small lag corrected fully", 0, 90000 * 60, 60e9 + 100e6, 60e9 + 100e6},
	{"large lag clamped to +0.5%", 0, 90000 * 60, 60e9 + 10e9, 60e9 + 300e6},
	{"large lead clamped to -0.5%", 0, 90000 * 60, 60e9 - 10e9, 60e9 - 300e6},
	{"clock stepped back an hour", 1e18, 90000 * 60, 1e18 - 3600e9, 1e18 + 60e9 - 300e6},
	{"absurd future", 0, 90000, math.MaxInt64, 1e9 + 5e6},
	{"absurd past", 0, 90000, math.MinInt64, 1e9 - 5e6},
	{"zero duration", 5, 0, 1e9, 5},
}

func TestSlewedEnd(t *testing.T) {
	for _, tc := range slewCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := slewedEnd(tc.start, tc.dur90k, tc.observedNS); got != tc.want {
				t.Errorf("slewedEnd = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzSlewedEnd: whatever the local clock says, a segment's wall duration
// stays within 0.5 % of its media duration (F12: never negative or absurd).
func FuzzSlewedEnd(f *testing.F) {
	for _, tc := range slewCases {
		f.Add(tc.start, tc.dur90k, tc.observedNS)
	}
	f.Fuzz(func(t *testing.T, start, dur90k, observed int64) {
		if start < 0 || start > 1<<62 || dur90k < 0 || dur90k > 90000*86400*365 {
			return
		}
		end := slewedEnd(start, dur90k, observed)
		durNS := ticks.ToNS(dur90k)
		if d := end - start - durNS; d > durNS/slewDivisor || -d > durNS/slewDivisor {
			t.Fatalf("slewedEnd(%d, %d, %d) = %d: %d ns off the media duration %d", start, dur90k, observed, end, d, durNS)
		}
	})
}

// feedSynthetic feeds one small frame every `every` seconds of camera time
// (a keyframe every other frame) for the given camera duration;
// arrival(i, mediaNS) gives the local clock when frame i, at that media
// time, arrives.
func feedSynthetic(t *testing.T, s *segmenter, ps *paramSet, dtsStart int64, seconds, every int, arrival func(i int, mediaNS int64) time.Time) int64 {
	t.Helper()
	nal := []byte{0x65, 1, 2, 3}
	it := &auItem{params: ps, nalus: [][]byte{nal}, size: len(nal)}
	dts := dtsStart
	for i := 0; i < seconds/every; i++ {
		it.dts, it.pts = dts, dts
		it.keyframe = i%2 == 0
		it.arrivalNS = arrival(i, ticks.ToNS(dts-dtsStart)).UnixNano()
		if err := s.handle(it); err != nil {
			t.Fatalf("second %d: %v", i, err)
		}
		dts += int64(every) * 90000
	}
	return dts
}

func noSync(*os.File) error { return nil }

// A camera clock 0.1 % fast or slow keeps its segments within one second of
// local time over a 24-hour session, with the media durations untouched.
func TestDrift24h(t *testing.T) {
	if testing.Short() {
		t.Skip("24 h simulation")
	}
	c := loadClip(t, testcam.ClipBase240)
	ps := clipParams(t, c)
	for _, drift := range []float64{0.001, -0.001} {
		t.Run(fmt.Sprintf("%+.1f%%", drift*100), func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
			env.store.sync = noSync
			env.store.devNull = true
			s := newSegmenter(env.job.segmenterDeps())
			const day = 86400
			// The camera's clock runs (1+drift) times as fast as ours:
			// media time m arrives at local time m/(1+drift), plus a
			// little network jitter.
			arrival := func(i int, mediaNS int64) time.Time {
				jitter := time.Duration(i%7) * 5 * time.Millisecond
				return t0.Add(time.Duration(float64(mediaNS)/(1+drift)) + jitter)
			}
			feedSynthetic(t, s, ps, 12345, day, 2, arrival)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			rows := env.store.segments()
			_, ends := env.log.all()
			segs, _ := env.log.all()
			if len(rows) < day/60-1 {
				t.Fatalf("%d segments", len(rows))
			}
			worst := time.Duration(0)
			for i, r := range rows {
				media := ends[i] - segs[i][0].dts
				local := arrival(0, ticks.ToNS(ends[i]-12345)).UnixNano()
				off := time.Duration(r.EndNS - local)
				worst = max(worst, off, -off)
				if i > 0 && r.StartNS != rows[i-1].EndNS {
					t.Fatalf("segment %d does not abut", i)
				}
				if d := r.EndNS - r.StartNS - ticks.ToNS(media); d > ticks.ToNS(media)/slewDivisor || -d > ticks.ToNS(media)/slewDivisor {
					t.Fatalf("segment %d slewed by %d ns", i, d)
				}
			}
			if worst > time.Second {
				t.Errorf("index strays %v from the local clock", worst)
			}
			t.Logf("%d segments, worst offset from local clock %v", len(rows), worst)
		})
	}
}

// F12: a step of the local clock (±1 h) inside a run never gives a segment
// a negative or absurd duration or overlapping times; a new run after a
// backward step never starts before the previous segment ended.
func TestClockStep(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	ps := clipParams(t, c)
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			env := newTestEnv(t, Config{SegmentDuration: time.Minute, FsyncInterval: time.Hour}, nil)
			env.store.sync = noSync
			env.store.devNull = true
			s := newSegmenter(env.job.segmenterDeps())
			// 20 minutes; the local clock steps at minute 7 and steps
			// back at minute 13.
			arrival := func(i int, mediaNS int64) time.Time {
				w := t0.Add(time.Duration(mediaNS))
				if i >= 7*60 && i < 13*60 {
					w = w.Add(step)
				}
				return w
			}
			next := feedSynthetic(t, s, ps, 0, 20*60, 1, arrival)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			// A new run (reconnect) while the clock reads an hour
			// earlier than the recording so far.
			back := func(i int, mediaNS int64) time.Time {
				return t0.Add(20*time.Minute - time.Hour + time.Duration(mediaNS))
			}
			feedSynthetic(t, s, ps, next+100*90000, 5*60, 1, back)
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			rows := env.store.segments()
			segs, ends := env.log.all()
			for i, r := range rows {
				media := ticks.ToNS(ends[i] - segs[i][0].dts)
				if d := r.EndNS - r.StartNS - media; r.EndNS <= r.StartNS || d > media/slewDivisor || -d > media/slewDivisor {
					t.Errorf("segment %d: wall %v for media %v", i, time.Duration(r.EndNS-r.StartNS), time.Duration(media))
				}
				if i > 0 && r.StartNS < rows[i-1].EndNS {
					t.Errorf("segment %d starts %v before the previous end", i, time.Duration(rows[i-1].EndNS-r.StartNS))
				}
			}
		})
	}
}
