package fleet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// TestJobStartsAfterLastFootage: a job's first segment starts no earlier
// than the end of the stream's last segment in the index, even when that
// end lies after the first frame's arrival (a job started right after the
// one before it closed, whose last frame's end runs a little ahead, or a
// clock that stepped back). The index here holds a segment ending 20 s
// from now; the new recording starts at its end, not over it. Footage
// that ends more than a minute ahead came from a wrong clock: the new
// recording is not pushed after it.
func TestJobStartsAfterLastFootage(t *testing.T) {
	for _, tc := range []struct {
		ahead time.Duration
		after bool
	}{{10 * time.Second, true}, {time.Hour, false}} {
		t.Run(tc.ahead.String(), func(t *testing.T) { testJobStartsAfter(t, tc.ahead, tc.after) })
	}
}

func testJobStartsAfter(t *testing.T, aheadBy time.Duration, after bool) {
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	data := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	st, err := storage.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(aheadBy).UnixNano()
	f, err := st.CreateSegment(ctx, storage.Segment{Camera: "cam", StartNS: ahead})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "an earlier recording")
	if err := f.Finish(ctx, storage.Segment{EndNS: ahead + int64(10*time.Second), Frames: 250, Keyframes: 10}); err != nil {
		t.Fatal(err)
	}
	prev, err := st.Segment(ctx, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	cfg := parseConfig(t, fmt.Sprintf("data_dir: %s\nsegment_duration: 1s\ncameras:\n  - id: cam\n    url: %s\n", data, cam.URL()))
	fl, err := Open(ctx, cfg, Options{Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close(ctx)
	var next storage.Segment
	eventually(t, 20*time.Second, "a new segment", func() bool {
		segs, _, err := fl.Store().ListSegments(ctx, "cam", 0, 1<<62, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			if s.ID != prev.ID {
				next = s
				return true
			}
		}
		return false
	})
	if (next.StartNS >= prev.EndNS) != after {
		t.Fatalf("the new recording starts %v after the last segment's end (%v from now); want it after: %v",
			time.Duration(next.StartNS-prev.EndNS), time.Duration(prev.EndNS-time.Now().UnixNano()).Round(time.Second), after)
	}
}
