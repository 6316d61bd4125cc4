package fleet

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the index's driver, to stage a crash
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/segcheck"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// TestRecordSub: with record_sub a camera records both streams of the test
// camera (two paths of different sizes) in its window, over one session
// per stream even while the sub stream is watched live; each stream's
// segments are indexed as that stream, under paths that never collide.
// Turning record_sub off ends the sub session (nobody watches it). After a
// crash (a sub segment left recording with a torn tail, a sub file without
// its row), recovery puts both back into the sub stream.
func TestRecordSub(t *testing.T) {
	cam := startCam(t, testcam.Options{Path: "/main", Clip: testcam.ClipHigh360BFrame,
		Streams: map[string]string{"/sub": testcam.ClipBase240}})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	yml := func(extra string) *config.Config {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir: %s
segment_duration: 1s
live_linger: 200ms
cameras:
  - id: shop
    url: %s
    sub_url: %s
%s`, data, cam.URLFor("/main"), cam.URLFor("/sub"), extra)), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl, err := Open(ctx, yml("    record_sub: true\n"), Options{Logger: discardLog(), InitData: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			fl.Close(context.Background())
		}
	}()
	sub := func() SubStatus {
		cs := fl.Cameras()
		if len(cs) != 1 || cs[0].Sub == nil {
			t.Fatalf("cameras %+v: want one with a sub stream", cs)
		}
		return *cs[0].Sub
	}
	eventually(t, 20*time.Second, "both streams recording", func() bool {
		return fl.Cameras()[0].State == StateRecording && sub().State == SubRecording
	})

	// A live viewer of the sub stream shares the recording's session.
	v, err := fl.LiveSub("shop").Watch()
	if err != nil {
		t.Fatal(err)
	}
	if m := firstPicture(t, v); m.Width != 320 || m.Height != 240 {
		t.Errorf("sub live picture %dx%d, want 320x240", m.Width, m.Height)
	}
	v.Close()
	for _, p := range []string{"/main", "/sub"} {
		if created, active := cam.PathSessions(p); created != 1 || active != 1 {
			t.Errorf("%s sessions created %d, active %d while recording (and watching the sub); want 1, 1", p, created, active)
		}
	}

	finished := func(stream string) int {
		segs, _, err := fl.Store().ListStreamSegments(ctx, "shop", stream, 0, time.Now().Add(time.Hour).UnixNano(), 0, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range segs {
			if s.State == storage.StateComplete {
				n++
			}
		}
		return n
	}
	eventually(t, 30*time.Second, "three finished segments of each stream", func() bool {
		return finished(storage.StreamMain) >= 3 && finished(storage.StreamSub) >= 3
	})

	// record_sub off: the sub session ends, the main one goes on.
	if err := fl.Apply(ctx, yml("")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the sub session closed without record_sub", func() bool {
		_, active := cam.PathSessions("/sub")
		return active == 0 && sub().State == SubIdle
	})
	if created, active := cam.PathSessions("/main"); created != 1 || active != 1 {
		t.Errorf("main sessions created %d, active %d after record_sub went off; want 1, 1", created, active)
	}
	if err := fl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true

	mains := segcheck.Index(t, data, "shop")
	subs := segcheck.IndexStream(t, data, storage.Options{}, "shop", storage.StreamSub)
	paths := map[string]bool{}
	for _, s := range mains {
		if s.Width != 640 || s.Height != 360 || strings.HasPrefix(s.Path, "shop/sub/") {
			t.Errorf("main segment %s %dx%d", s.Path, s.Width, s.Height)
		}
		paths[s.Path] = true
	}
	for _, s := range subs {
		if s.Width != 320 || s.Height != 240 || !strings.HasPrefix(s.Path, "shop/sub/") || paths[s.Path] {
			t.Errorf("sub segment %s %dx%d", s.Path, s.Width, s.Height)
		}
		if len(s.CodecList()) != 1 {
			t.Errorf("sub segment %s codecs %q: want video only", s.Path, s.Codecs)
		}
	}

	// The crash: the newest sub segment was still recording (its row in
	// state recording, a torn fragment after its last complete one), and
	// the oldest one's row never committed (a file without a row).
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	torn, orphan := subs[len(subs)-1], subs[0]
	for _, q := range []struct {
		sql string
		id  int64
	}{
		{`UPDATE segments SET state = 'recording' WHERE id = ?`, torn.ID},
		{`DELETE FROM segment_samples WHERE segment_id = ?`, orphan.ID},
		{`DELETE FROM segments WHERE id = ?`, orphan.ID},
	} {
		if _, err := db.Exec(q.sql, q.id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	f, err := os.OpenFile(filepath.Join(data, "recordings", filepath.FromSlash(torn.Path)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("\x00\x00\x10\x00moofhalf a fragment")); err != nil {
		t.Fatal(err)
	}
	f.Close()

	off := yml("    enabled: false\n")
	fl2, err := Open(ctx, off, Options{Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fl2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again := segcheck.IndexStream(t, data, storage.Options{}, "shop", storage.StreamSub)
	if len(again) != len(subs) {
		t.Fatalf("%d sub segments after recovery, want %d", len(again), len(subs))
	}
	byPath := map[string]storage.Segment{}
	for _, s := range again {
		byPath[s.Path] = s
	}
	for _, want := range []storage.Segment{torn, orphan} {
		got, ok := byPath[want.Path]
		if !ok || got.Frames != want.Frames || got.Bytes != want.Bytes || got.Width != 320 {
			t.Errorf("recovered %+v\nwant %+v", got, want)
		}
	}
	if n := len(segcheck.Index(t, data, "shop")); n != len(mains) {
		t.Errorf("%d main segments after recovery, want %d", n, len(mains))
	}
}
