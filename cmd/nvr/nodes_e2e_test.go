package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/testcam"
)

// TestServeTwoNodes runs two `nvr serve` processes on one PostgreSQL index,
// each with its own data dir, both with the same api.token and an
// advertise_url. The camera is pinned to node-a; node-b answers for it
// too: its segment list is the index's, and a segment file, a segment
// still being recorded and an export of segments on node-a's disk come
// from node-a's API, byte for byte what node-a serves itself. Once
// node-a has stopped, node-b says where the footage is (503) instead of
// failing vaguely, and records the camera itself.
func TestServeTwoNodes(t *testing.T) {
	needTool(t, "ffmpeg")
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{})
	const token = "two-nodes-token-0123456789"
	start := func(node string) *nvrProc {
		dir := t.TempDir()
		listen := freeAddr(t)
		cfg := filepath.Join(dir, "nvr.yaml")
		writeConfig(t, cfg, fmt.Sprintf(`data_dir: %s
listen: %s
segment_duration: 2s
fsync_interval: 1s
node: %s
advertise_url: http://%s
index:
  postgres: %q
api:
  token: %s
cameras:
  - id: cam
    url: %s
    node: node-a
`, filepath.Join(dir, "data"), listen, node, listen, pg, token, cam.URL()))
		p := startServe(t, cfg, listen)
		p.token = token
		return p
	}
	a := start("node-a")
	b := start("node-b")
	a.waitFor(60*time.Second, "three segments on node-a", func() bool { return a.camera("cam").Segments >= 3 })

	type segJSON struct {
		ID     int64
		Start  string
		End    *string
		Frames int64
		Bytes  int64
		State  string
	}
	var list struct{ Segments []segJSON }
	q := "?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
	if code := b.getJSON("/api/cameras/cam/segments"+q, &list); code != 200 || len(list.Segments) < 3 {
		t.Fatalf("node-b's segment list: %d %+v", code, list)
	}
	if c := b.camera("cam"); c.State == "recording" {
		t.Fatalf("node-b records the camera pinned to node-a")
	}
	dir := t.TempDir()
	// A complete segment: node-b's bytes are node-a's, and they decode.
	first := list.Segments[0]
	viaB := b.body(fmt.Sprintf("/api/segments/%d", first.ID))
	if viaA := a.body(fmt.Sprintf("/api/segments/%d", first.ID)); !bytes.Equal(viaA, viaB) || int64(len(viaB)) != first.Bytes {
		t.Fatalf("segment %d: %d bytes through node-b, %d from node-a, %d in the index", first.ID, len(viaB), len(viaA), first.Bytes)
	}
	seg0 := filepath.Join(dir, "seg0.mp4")
	if err := os.WriteFile(seg0, viaB, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := ffprobeFrames(t, seg0); int64(n) != first.Frames {
		t.Errorf("segment %d through node-b decodes to %d frames, the index says %d", first.ID, n, first.Frames)
	}
	// The segment node-a is recording: node-b serves what node-a synced.
	var rec *segJSON
	b.waitFor(10*time.Second, "a segment in recording with synced bytes", func() bool {
		if code := b.getJSON("/api/cameras/cam/segments"+q, &list); code != 200 {
			return false
		}
		for i := range list.Segments {
			if s := &list.Segments[i]; s.State == "recording" && s.Bytes > 0 {
				rec = s
				return true
			}
		}
		return false
	})
	growing := b.body(fmt.Sprintf("/api/segments/%d", rec.ID))
	if now := a.body(fmt.Sprintf("/api/segments/%d", rec.ID)); int64(len(growing)) < rec.Bytes || !bytes.HasPrefix(now, growing[:rec.Bytes]) {
		t.Fatalf("recording segment %d: %d bytes through node-b, index %d, node-a has %d (prefix equal: %v)",
			rec.ID, len(growing), rec.Bytes, len(now), bytes.HasPrefix(now, growing[:min(int64(len(growing)), rec.Bytes)]))
	}
	// An export of the first three segments through node-b.
	e2 := list.Segments[2].End
	if e2 == nil {
		t.Fatal("the third segment has no end")
	}
	clip := filepath.Join(dir, "export.mp4")
	if err := os.WriteFile(clip, b.body(fmt.Sprintf("/api/cameras/cam/export?start=%s&end=%s", list.Segments[0].Start, *e2)), 0o600); err != nil {
		t.Fatal(err)
	}
	want := list.Segments[0].Frames + list.Segments[1].Frames + list.Segments[2].Frames
	if n := ffprobeFrames(t, clip); int64(n) < want*9/10 {
		t.Errorf("export through node-b decodes to %d frames, want about %d", n, want)
	}
	if log, _ := os.ReadFile(b.log.Name()); strings.Contains(string(log), token) {
		t.Errorf("node-b's log holds the API token")
	}

	// node-a stops: its segments are out of reach, and node-b says so.
	if code := a.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("node-a exit code %d", code)
	}
	resp, err := b.get(fmt.Sprintf("/api/segments/%d", first.ID))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(msg), "another node") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a segment on the stopped node-a: %d %q (Retry-After %q), want 503 naming another node",
			resp.StatusCode, msg, resp.Header.Get("Retry-After"))
	}
	b.waitFor(30*time.Second, "node-b to take the camera over", func() bool { return b.camera("cam").State == "recording" })
}
