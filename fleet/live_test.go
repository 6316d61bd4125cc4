package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/schedule"
)

// TestLiveOutsideWindow: a camera outside its recording window is
// connected while someone watches it live — recording nothing, shown idle
// — and disconnected live_linger after the last viewer leaves.
func TestLiveOutsideWindow(t *testing.T) {
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir: %s
timezone: Europe/Berlin
segment_duration: 2s
live_linger: 300ms
cameras:
  - id: shop
    url: %s
    schedule:
      - start: "0 22 * * *"
        duration: 1h
`, filepath.Join(dir, "data"), cam.URL())), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	clock := schedule.NewFakeClock(time.Date(2026, 3, 28, 12, 0, 0, 0, cfg.Location()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close(context.Background())
	if err := fl.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the camera idle", func() bool { return len(fl.Cameras()) == 1 && fl.Cameras()[0].State == StateIdle })
	if cam.Stats().Sessions != 0 {
		t.Fatal("camera contacted outside its window with nobody watching")
	}

	v, err := fl.Live("shop").Watch()
	if err != nil {
		t.Fatal(err)
	}
	firstPicture(t, v)
	if st := cam.Stats(); st.ActiveSessions != 1 {
		t.Fatalf("%d sessions while watched", st.ActiveSessions)
	}
	if c := fl.Cameras()[0]; c.State != StateIdle {
		t.Fatalf("state %q while only watched", c.State)
	}
	if segs, _, err := fl.Store().ListSegments(ctx, "shop", 0, 1<<62, 10, ""); err != nil || len(segs) != 0 {
		t.Fatalf("watching recorded %d segments (%v)", len(segs), err)
	}

	v.Close()
	eventually(t, 10*time.Second, "the session torn down after live_linger", func() bool {
		st := cam.Stats()
		return st.ActiveSessions == 0 && st.Teardowns == 1
	})
}
