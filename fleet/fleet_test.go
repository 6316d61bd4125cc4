package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/schedule"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startCam starts an in-process test camera, closed when the test ends.
func startCam(t *testing.T, opts testcam.Options) *testcam.Server {
	t.Helper()
	cam, err := testcam.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam
}

// TestScheduleWindow drives the fleet's schedule with a fake
// clock: outside the window the camera is idle with its next window; when
// the window opens it records at once; when it closes the session is torn
// down and the segment finalised.
func TestScheduleWindow(t *testing.T) {
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir: %s
timezone: Europe/Berlin
segment_duration: 2s
cameras:
  - id: shop
    url: %s
    schedule:
      - start: "0 22 * * *"
        duration: 9h
`, filepath.Join(dir, "data"), cam.URL())), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	berlin := cfg.Location()
	clock := schedule.NewFakeClock(time.Date(2026, 3, 28, 21, 59, 0, 0, berlin))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}

	state := func() (State, time.Time) {
		for _, c := range svc.Cameras() {
			if c.ID == "shop" {
				return c.State, c.NextWindow
			}
		}
		t.Fatal("camera shop missing")
		return "", time.Time{}
	}
	waitState := func(want State) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if st, _ := state(); st == want {
				return
			}
			if time.Now().After(deadline) {
				st, _ := state()
				t.Fatalf("state %q, want %q", st, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	waitRunner := func(active bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for a, _ := svc.runner.State("shop"); a != active; a, _ = svc.runner.State("shop") {
			if time.Now().After(deadline) {
				t.Fatalf("runner active=%v, want %v", a, active)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// advance moves the fake clock once the runner has armed its timer: a
	// timer armed after the clock moved would wait for the next advance.
	advance := func(d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for clock.Pending() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the runner armed no timer")
			}
			time.Sleep(10 * time.Millisecond)
		}
		clock.Advance(d)
	}
	// Before 22:00: idle until the window opens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, next := state()
		if st == StateIdle && next.Equal(time.Date(2026, 3, 28, 22, 0, 0, 0, berlin)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("before the window: state %q next %v", st, next)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cam.Stats().Sessions != 0 {
		t.Fatalf("camera contacted outside its window")
	}

	advance(time.Minute) // 22:00: the window opens
	waitRunner(true)
	waitState(StateRecording)
	time.Sleep(2500 * time.Millisecond) // a segment or so of real media

	// The DST night: 22:00 + 9 h of wall-clock time ends at 07:00 local.
	advance(7*time.Hour + 59*time.Minute) // 06:59 CEST: still inside
	time.Sleep(100 * time.Millisecond)
	if a, _ := svc.runner.State("shop"); !a {
		t.Fatalf("window closed before 07:00 local on the DST night")
	}
	advance(time.Minute) // 07:00 CEST
	waitRunner(false)
	waitState(StateIdle)
	// The camera is idle as soon as its window closes; the job then
	// finalises its segment and tears the session down on its own
	// goroutine, before Close.
	for deadline := time.Now().Add(10 * time.Second); cam.Stats().Teardowns == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st := cam.Stats(); st.Teardowns == 0 {
		t.Errorf("no TEARDOWN when the window closed: %+v", st)
	}
	if err := svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	segs := segcheck.Index(t, filepath.Join(dir, "data"), "shop")
	if len(segs) == 0 {
		t.Fatal("no segments recorded in the window")
	}
}
