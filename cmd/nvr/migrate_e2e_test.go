package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
)

// TestMigrateIndex: a box records on SQLite, stops, and moves its index to
// PostgreSQL with nvr migrate-index; started on the new config it lists
// the old segments unchanged and exports them (ffmpeg decodes the clip),
// and records on. The SQLite index is renamed out of the way; a second
// run finds nothing to move.
func TestMigrateIndex(t *testing.T) {
	needTool(t, "ffmpeg")
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	listen := freeAddr(t)
	old := filepath.Join(dir, "sqlite.yaml")
	common := fmt.Sprintf("data_dir: %s\nlisten: %s\nsegment_duration: 2s\nfsync_interval: 1s\ncameras:\n  - id: cam\n    url: %s\n", data, listen, cam.URL())
	writeConfig(t, old, common)
	p := startServe(t, old, listen)
	p.waitFor(60*time.Second, "three segments", func() bool { return p.camera("cam").Segments >= 3 })
	if code := p.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	before := checkIndex(t, data, "cam")

	cfg := filepath.Join(dir, "postgres.yaml")
	writeConfig(t, cfg, common+fmt.Sprintf("node: box-1\nindex:\n  postgres: %q\n", pg))
	code, out, errOut := runBin(t, nil, "migrate-index", "-config", cfg)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("copied 1 cameras and %d segments", len(before))) {
		t.Fatalf("migrate-index: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, storage.DBName)); err == nil {
		t.Errorf("index.db is still there")
	}
	if _, err := os.Stat(filepath.Join(data, storage.DBName+".migrated")); err != nil {
		t.Errorf("index.db.migrated: %v", err)
	}
	if code, _, errOut := runBin(t, nil, "migrate-index", "-config", cfg); code != 1 || !strings.Contains(errOut, "no SQLite index") {
		t.Errorf("a second migrate-index: exit %d, %q", code, errOut)
	}

	p = startServe(t, cfg, listen)
	var list struct {
		Segments []struct {
			Start  string
			End    *string
			Frames int64
			State  string
		}
	}
	q := "?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
	if code := p.getJSON("/api/cameras/cam/segments"+q, &list); code != 200 || len(list.Segments) < len(before) {
		t.Fatalf("segments on PostgreSQL: %d, %d of %d", code, len(list.Segments), len(before))
	}
	var frames int64
	for i, s := range before {
		g := list.Segments[i]
		if st, _ := time.Parse(time.RFC3339Nano, g.Start); st.UnixNano() != s.StartNS || g.Frames != s.Frames || g.State != "complete" {
			t.Errorf("segment %d on PostgreSQL: %+v, on SQLite %+v", i, g, s)
		}
		frames += s.Frames
	}
	clip := filepath.Join(dir, "old.mp4")
	from := time.Unix(0, before[0].StartNS).UTC().Format(time.RFC3339Nano)
	to := time.Unix(0, before[len(before)-1].EndNS).UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(clip, p.body("/api/cameras/cam/export?start="+from+"&end="+to), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := ffprobeFrames(t, clip); int64(n) < frames*9/10 {
		t.Errorf("the export of the migrated footage decodes to %d frames, the index says %d", n, frames)
	}
	n := p.camera("cam").Segments
	p.waitFor(30*time.Second, "a new segment on PostgreSQL", func() bool { return p.camera("cam").Segments > n })
}
