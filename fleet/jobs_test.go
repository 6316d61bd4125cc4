package fleet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/schedule"
)

// fakeCameras hands out sessions that stay silent until cancelled and take
// closeDelay to close, as a camera answering TEARDOWN slowly does. The
// camera is the last element of the URL's path.
type fakeCameras struct {
	closeDelay time.Duration

	mu     sync.Mutex
	opens  map[string]int
	closes map[string]int
	sdp    map[string]string
	urls   map[string]string
}

func newFakeCameras(closeDelay time.Duration) *fakeCameras {
	return &fakeCameras{closeDelay: closeDelay, opens: map[string]int{}, closes: map[string]int{},
		sdp: map[string]string{}, urls: map[string]string{}}
}

func (fc *fakeCameras) prepare(_ *recorder.Config, deps *recorder.Deps) {
	deps.Open = fc.open
}

func (fc *fakeCameras) open(ctx context.Context, cfg rtsp.Config) (recorder.Session, error) {
	id := cfg.URL[strings.LastIndex(cfg.URL, "/")+1:]
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.opens[id]++
	fc.sdp[id] = string(cfg.SDP)
	fc.urls[id] = cfg.URL
	return &silentSession{fc: fc, id: id}, nil
}

func (fc *fakeCameras) count(m map[string]int, id string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return m[id]
}

func (fc *fakeCameras) total(m map[string]int) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type silentSession struct {
	fc *fakeCameras
	id string
}

func (s *silentSession) Info() rtsp.Info {
	return rtsp.Info{Video: rtsp.VideoTrack{Track: rtsp.Track{Codec: "H264"}}}
}
func (s *silentSession) Stats() rtsp.Stats { return rtsp.Stats{} }
func (s *silentSession) ReadPackets(ctx context.Context, _ func(*rtp.Packet) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func (s *silentSession) Close() error {
	time.Sleep(s.fc.closeDelay)
	s.fc.mu.Lock()
	s.fc.closes[s.id]++
	s.fc.mu.Unlock()
	return nil
}

// eventually polls cond in real time, bounded.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// advanceArmed moves the fake clock once the runner has armed its timer: a
// timer armed after the clock moved would wait for the next advance.
func advanceArmed(t *testing.T, clock *schedule.FakeClock, d time.Duration) {
	t.Helper()
	eventually(t, 10*time.Second, "the runner to arm a timer", func() bool { return clock.Pending() > 0 })
	clock.Advance(d)
}

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkNoLeak fails when goroutines started since before outlive Close.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// Fifty cameras whose windows close at the same instant are all stopped
// within the time one stop takes plus a margin: the schedule's Stop hook
// returns at once and each job finalises on its own goroutine. One after
// another they would take fifty times as long.
func TestWindowsCloseTogether(t *testing.T) {
	const cameras = 50
	const stopTakes = time.Second
	const margin = 2 * time.Second
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\ntimezone: UTC\ncameras:\n", filepath.Join(t.TempDir(), "data"))
	for i := range cameras {
		fmt.Fprintf(&b, "  - id: cam%02d\n    url: rtsp://127.0.0.1:1/cam%02d\n    schedule:\n      - start: \"0 22 * * *\"\n        duration: 1h\n", i, i)
	}
	cfg := parseConfig(t, b.String())
	fc := newFakeCameras(stopTakes)
	clock := schedule.NewFakeClock(time.Date(2026, 5, 4, 22, 30, 0, 0, time.UTC))
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, Clock: clock, PrepareJob: fc.prepare})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	eventually(t, 20*time.Second, "every camera to connect", func() bool { return fc.total(fc.opens) == cameras })

	advanceArmed(t, clock, 30*time.Minute) // 23:00: every window closes
	start := time.Now()
	eventually(t, cameras*stopTakes, "every camera to stop", func() bool { return fc.total(fc.closes) == cameras })
	took := time.Since(start)
	t.Logf("%d cameras stopped in %v; one stop takes %v", cameras, took, stopTakes)
	if took > stopTakes+margin {
		t.Errorf("%d cameras took %v to stop; one stop takes %v", cameras, took, stopTakes)
	}
	for _, c := range f.Cameras() {
		if c.State != StateIdle {
			t.Errorf("camera %s is %s after its window closed", c.ID, c.State)
		}
	}
}

// An out-of-band SDP that is slow to load delays only its own camera, and
// a camera stopped while its SDP loads stops at once.
func TestSlowSDPDelaysOnlyItsCamera(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow.sdp":
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		case "/stuck.sdp":
			<-r.Context().Done()
			return
		}
		fmt.Fprintf(w, "v=0\r\ns=%s\r\n", strings.TrimPrefix(r.URL.Path, "/"))
	}))
	defer srv.Close()
	cfg := parseConfig(t, fmt.Sprintf(`data_dir: %s
cameras:
  - {id: slow, url: "rtsp://127.0.0.1:1/slow", sdp: "%s/slow.sdp"}
  - {id: stuck, url: "rtsp://127.0.0.1:1/stuck", sdp: "%s/stuck.sdp"}
  - {id: fast1, url: "rtsp://127.0.0.1:1/fast1", sdp: "%s/fast1.sdp"}
  - {id: fast2, url: "rtsp://127.0.0.1:1/fast2"}
`, filepath.Join(t.TempDir(), "data"), srv.URL, srv.URL, srv.URL))
	fc := newFakeCameras(0)
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, PrepareJob: fc.prepare})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the fast cameras to connect", func() bool {
		return fc.count(fc.opens, "fast1") == 1 && fc.count(fc.opens, "fast2") == 1
	})
	if fc.count(fc.opens, "slow") != 0 || fc.count(fc.opens, "stuck") != 0 {
		t.Fatal("a camera connected before its SDP was loaded")
	}
	fc.mu.Lock()
	if got := fc.sdp["fast1"]; !strings.Contains(got, "s=fast1.sdp") {
		t.Errorf("fast1 connected with SDP %q", got)
	}
	fc.mu.Unlock()
	close(release)
	eventually(t, 10*time.Second, "the slow camera to connect", func() bool { return fc.count(fc.opens, "slow") == 1 })
	fc.mu.Lock()
	if got := fc.sdp["slow"]; !strings.Contains(got, "s=slow.sdp") {
		t.Errorf("slow connected with SDP %q", got)
	}
	fc.mu.Unlock()

	// stuck's SDP never comes: closing cancels the request.
	start := time.Now()
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with an SDP still loading", took)
	}
	if fc.count(fc.opens, "stuck") != 0 {
		t.Error("stuck connected without its SDP")
	}
	srv.Close()
	checkNoLeak(t, goroutines)
}

// Apply restarts only the cameras whose stream changed: a renamed camera
// keeps its session, a new URL gets a new one, a removed camera is closed
// and an added one connects.
func TestApplyRestartsOnlyChangedStreams(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := parseConfig(t, fmt.Sprintf(`data_dir: %s
cameras:
  - {id: a, url: "rtsp://127.0.0.1:1/a"}
  - {id: b, url: "rtsp://127.0.0.1:1/b"}
  - {id: c, url: "rtsp://127.0.0.1:1/c"}
`, dir))
	fc := newFakeCameras(0)
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, PrepareJob: fc.prepare})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	eventually(t, 10*time.Second, "every camera to connect", func() bool { return fc.total(fc.opens) == 3 })

	next := parseConfig(t, fmt.Sprintf(`data_dir: %s
cameras:
  - {id: a, name: Porch, url: "rtsp://127.0.0.1:1/a"}
  - {id: b, url: "rtsp://127.0.0.1:2/b"}
  - {id: d, url: "rtsp://127.0.0.1:1/d"}
`, dir))
	if err := f.Apply(ctx, next); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b to reconnect and d to connect", func() bool {
		return fc.count(fc.opens, "b") == 2 && fc.count(fc.opens, "d") == 1 && fc.count(fc.closes, "c") == 1
	})
	fc.mu.Lock()
	if fc.urls["b"] != "rtsp://127.0.0.1:2/b" {
		t.Errorf("b reconnected to %s", fc.urls["b"])
	}
	fc.mu.Unlock()
	if fc.count(fc.opens, "a") != 1 || fc.count(fc.closes, "a") != 0 {
		t.Errorf("a renamed: %d sessions, %d closed; want one, still open", fc.count(fc.opens, "a"), fc.count(fc.closes, "a"))
	}
	var ids []string
	for _, c := range f.Cameras() {
		ids = append(ids, c.ID+"="+c.Name)
	}
	if got := strings.Join(ids, " "); got != "a=Porch b=b d=d" {
		t.Errorf("cameras after reload: %s", got)
	}
	bad := parseConfig(t, fmt.Sprintf("data_dir: %s\n", dir+"-elsewhere"))
	if err := f.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("a new data_dir was not refused: %v", err)
	}
}
