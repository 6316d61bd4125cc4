package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/live"
)

// firstPicture reads a viewer's init message and first keyframe.
func firstPicture(t *testing.T, v *live.Viewer) *live.Message {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { close(done) })
	defer timer.Stop()
	m, err := v.Next(done)
	if err != nil || !m.Init {
		t.Fatalf("first live message: %v %+v", err, m)
	}
	if k, err := v.Next(done); err != nil || !k.Keyframe {
		t.Fatalf("second live message: %v", err)
	}
	return m
}

// TestSubStream: a recording camera with a sub_url has one session per
// stream. The sub stream's session opens only while someone watches it
// (however many viewers), closes live_linger after the last one, carries
// the sub stream's own picture, and shows in Cameras and the events; its
// failure and a change of its URL never touch the main stream's session.
func TestSubStream(t *testing.T) {
	cam := startCam(t, testcam.Options{Path: "/main", Clip: testcam.ClipHigh360BFrame,
		Streams: map[string]string{"/sub": testcam.ClipBase240}})
	dir := t.TempDir()
	yml := func(sub string) *config.Config {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir: %s
segment_duration: 2s
live_linger: 300ms
cameras:
  - id: shop
    url: %s
    sub_url: %s
`, filepath.Join(dir, "data"), cam.URLFor("/main"), sub)), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := yml(cam.URLFor("/sub"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close(context.Background())
	events := fl.Subscribe(256)
	sessions := func(path string) (int64, int64) { return cam.PathSessions(path) }
	sub := func() *SubStatus {
		cs := fl.Cameras()
		if len(cs) != 1 || cs[0].Sub == nil {
			t.Fatalf("cameras %+v: want one with a sub stream", cs)
		}
		return cs[0].Sub
	}
	eventually(t, 10*time.Second, "recording", func() bool { return fl.Cameras()[0].State == StateRecording })
	if _, active := sessions("/sub"); active != 0 {
		t.Fatal("sub stream connected with nobody watching it")
	}
	if s := sub(); s.State != SubIdle {
		t.Fatalf("sub state %q unwatched", s.State)
	}

	// Watching the main stream opens no session.
	mv, err := fl.Live("shop").Watch()
	if err != nil {
		t.Fatal(err)
	}
	if m := firstPicture(t, mv); m.Width != 640 {
		t.Errorf("main live picture %dx%d, want the 640x360 stream", m.Width, m.Height)
	}
	mv.Close()

	// Two viewers of the sub stream: one session, the sub stream's picture.
	var vs []*live.Viewer
	for range 2 {
		v, err := fl.LiveSub("shop").Watch()
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	for _, v := range vs {
		if m := firstPicture(t, v); m.Width != 320 || m.Height != 240 {
			t.Errorf("sub live picture %dx%d, want 320x240", m.Width, m.Height)
		}
	}
	if created, active := sessions("/sub"); created != 1 || active != 1 {
		t.Errorf("sub sessions created %d, active %d with two viewers; want 1, 1", created, active)
	}
	if created, active := sessions("/main"); created != 1 || active != 1 {
		t.Errorf("main sessions created %d, active %d; want 1, 1", created, active)
	}
	eventually(t, 5*time.Second, "sub state live", func() bool { return sub().State == SubLive })
	if c := fl.Cameras()[0]; c.State != StateRecording {
		t.Errorf("camera state %q while its sub stream is watched", c.State)
	}

	// A new sub_url restarts the sub session only.
	if err := fl.Apply(ctx, yml(cam.URLFor("/nope"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the failing sub stream retrying", func() bool {
		s := sub()
		return s.State == SubRetrying && s.LastError != ""
	})
	if _, active := sessions("/sub"); active != 0 {
		t.Errorf("old sub session left open after sub_url changed")
	}
	if created, active := sessions("/main"); created != 1 || active != 1 {
		t.Errorf("main sessions created %d, active %d after the sub stream changed and failed; want 1, 1", created, active)
	}
	if c := fl.Cameras()[0]; c.State != StateRecording || c.LastError != "" {
		t.Errorf("camera %q %q: a failing sub stream touched the main one", c.State, c.LastError)
	}
	if err := fl.Apply(ctx, yml(cam.URLFor("/sub"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "sub state live again", func() bool { return sub().State == SubLive })

	for _, v := range vs {
		v.Close()
	}
	eventually(t, 10*time.Second, "the sub session torn down after live_linger", func() bool {
		_, active := sessions("/sub")
		return active == 0 && sub().State == SubIdle
	})
	if created, active := sessions("/main"); created != 1 || active != 1 {
		t.Errorf("main sessions created %d, active %d at the end; want 1, 1", created, active)
	}

	// The events told the sub stream's story, and no JobFailed came from it.
	var states []string
	for len(events.Events()) > 0 {
		switch ev := (<-events.Events()).(type) {
		case SubStateChanged:
			states = append(states, string(ev.State))
		case JobFailed:
			t.Errorf("JobFailed from the sub stream: %v", ev.Err)
		}
	}
	got := strings.Join(states, " ")
	for _, want := range []string{"connecting", "live", "retrying", "idle"} {
		if !strings.Contains(got, want) {
			t.Errorf("sub stream events %q lack %q", got, want)
		}
	}

	// Without a sub_url there is no sub stream.
	noSub := yml(cam.URLFor("/sub"))
	noSub.Cameras[0].SubURL = ""
	if err := fl.Apply(ctx, noSub); err != nil {
		t.Fatal(err)
	}
	if fl.LiveSub("shop") != nil || fl.Cameras()[0].Sub != nil {
		t.Error("a camera without sub_url still has a sub stream")
	}
}
