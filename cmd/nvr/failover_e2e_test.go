package main

import (
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/testcam"
)

// TestServeThreeNodesFailover runs three `nvr serve` processes on one
// PostgreSQL index, recording twelve cameras (issue 13's test):
//   - every camera is recorded by exactly one node, four per node;
//   - node-b is killed with SIGKILL: every camera records again within
//     30 s, on node-a or node-c;
//   - node-c is paused with SIGSTOP past its leases and resumed: node-a
//     took its cameras, and node-c writes nothing stale (its late writes
//     are refused, so no two segments of a camera overlap);
//   - node-b comes back: its recovery completes what the kill left;
//   - an export spanning the failover, through a node that did not
//     record its first part, decodes with ffmpeg;
//   - at the end every segment is indexed once and its file is in exactly
//     one place, its node's data dir, and no file lacks a row.
func TestServeThreeNodesFailover(t *testing.T) {
	needTool(t, "ffmpeg")
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	const token = "three-nodes-token-0123456789"
	var ids []string
	for i := 1; i <= 12; i++ {
		ids = append(ids, fmt.Sprintf("c%02d", i))
	}
	type node struct {
		p              *nvrProc
		cfg, data, api string
	}
	names := []string{"node-a", "node-b", "node-c"}
	nodes := map[string]*node{}
	for _, n := range names {
		dir := t.TempDir()
		listen := freeAddr(t)
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir: %s\nlisten: %s\nsegment_duration: 2s\nfsync_interval: 1s\nnode: %s\nadvertise_url: http://%s\nindex:\n  postgres: %q\napi:\n  token: %s\ncameras:\n",
			filepath.Join(dir, "data"), listen, n, listen, pg, token)
		for _, id := range ids {
			fmt.Fprintf(&b, "  - id: %s\n    url: %s\n", id, cam.URL())
		}
		nd := &node{cfg: filepath.Join(dir, "nvr.yaml"), data: filepath.Join(dir, "data"), api: listen}
		writeConfig(t, nd.cfg, b.String())
		nodes[n] = nd
	}
	start := func(n string) {
		nd := nodes[n]
		nd.p = startServe(t, nd.cfg, nd.api)
		nd.p.token = token
	}
	for _, n := range names {
		start(n)
	}
	// recorders asks each running node which cameras it records.
	recorders := func(running ...string) map[string][]string {
		out := map[string][]string{}
		for _, n := range running {
			var cams []struct{ ID, State string }
			if code := nodes[n].p.getJSON("/api/cameras", &cams); code != 200 {
				continue
			}
			for _, c := range cams {
				if c.State == "recording" {
					out[c.ID] = append(out[c.ID], n)
				}
			}
		}
		return out
	}
	// once reports whether every camera is recorded by exactly one node,
	// and how many each node records.
	once := func(rec map[string][]string) (map[string]int, bool) {
		per := map[string]int{}
		for _, id := range ids {
			if len(rec[id]) != 1 {
				return nil, false
			}
			per[rec[id][0]]++
		}
		return per, true
	}
	var before map[string][]string
	nodes["node-a"].p.waitFor(40*time.Second, "twelve cameras, four per node", func() bool {
		before = recorders(names...)
		per, ok := once(before)
		return ok && per["node-a"] == 4 && per["node-b"] == 4 && per["node-c"] == 4
	})
	time.Sleep(3 * time.Second) // a few segments on each node

	// SIGKILL node-b.
	if err := nodes["node-b"].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes["node-b"].p.exited
	killed := time.Now()
	nodes["node-a"].p.waitFor(45*time.Second, "node-b's cameras recorded by node-a and node-c", func() bool {
		_, ok := once(recorders("node-a", "node-c"))
		return ok
	})
	if took := time.Since(killed); took > 30*time.Second {
		t.Errorf("node-b's cameras recorded again %v after the kill, want within 30 s", took.Round(100*time.Millisecond))
	} else {
		t.Logf("node-b's cameras recorded again %v after the kill", took.Round(100*time.Millisecond))
	}
	var moved string // a camera node-b recorded before
	for _, id := range ids {
		if before[id][0] == "node-b" {
			moved = id
			break
		}
	}
	time.Sleep(3 * time.Second)

	// SIGSTOP node-c past its leases; node-a takes everything; SIGCONT.
	pc := nodes["node-c"].p.cmd.Process
	if err := pc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = pc.Signal(syscall.SIGCONT)
		}
	})
	nodes["node-a"].p.waitFor(45*time.Second, "node-a recording all twelve", func() bool {
		per, ok := once(recorders("node-a"))
		return ok && per["node-a"] == len(ids)
	})
	time.Sleep(2 * time.Second)
	if err := pc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	nodes["node-a"].p.waitFor(45*time.Second, "every camera on one node after node-c resumed", func() bool {
		_, ok := once(recorders("node-a", "node-c"))
		return ok
	})

	// node-b comes back and recovers what the kill left.
	start("node-b")
	nodes["node-a"].p.waitFor(45*time.Second, "every camera on one node with node-b back", func() bool {
		_, ok := once(recorders(names...))
		return ok
	})
	time.Sleep(3 * time.Second)

	// An export of the moved camera across the kill, through node-c,
	// which recorded neither side of it unless it took the camera.
	exp := filepath.Join(t.TempDir(), "failover.mp4")
	from, to := killed.Add(-6*time.Second).UTC().Format(time.RFC3339Nano), killed.Add(25*time.Second).UTC().Format(time.RFC3339Nano)
	body := nodes["node-c"].p.body(fmt.Sprintf("/api/cameras/%s/export?start=%s&end=%s", moved, from, to))
	if err := os.WriteFile(exp, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := ffprobeFrames(t, exp); n < 5*25 {
		t.Errorf("the export of %s across the failover decodes to %d frames, want more than 5 s of them", moved, n)
	}

	for _, n := range names {
		if code := nodes[n].p.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Errorf("%s exit code %d", n, code)
		}
	}
	checkFailoverIndex(t, pg, ids, map[string]string{"node-a": nodes["node-a"].data, "node-b": nodes["node-b"].data, "node-c": nodes["node-c"].data})
}

// checkFailoverIndex checks the index the nodes left: no two segments of
// a camera overlap (so none was recorded by two nodes), the only rows
// not complete are node-c's that its pause left (fenced), each row's file
// is in its node's data dir and in no other, and every file has a row.
func checkFailoverIndex(t *testing.T, pg string, ids []string, dataDirs map[string]string) {
	t.Helper()
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT camera_id, node, start_ns, end_ns, path, state, coalesce(object, '') FROM segments ORDER BY camera_id, start_ns, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		cam, node, path, state, object string
		start, end                     int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.cam, &r.node, &r.start, &r.end, &r.path, &r.state, &r.object); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	perCam := map[string]map[string]bool{}
	paths := map[string]string{} // node/path -> camera
	for i, r := range all {
		if perCam[r.cam] == nil {
			perCam[r.cam] = map[string]bool{}
		}
		perCam[r.cam][r.node] = true
		if i > 0 && all[i-1].cam == r.cam && r.start < all[i-1].end {
			t.Errorf("camera %s: a segment of %s from %d overlaps one of %s ending at %d", r.cam, r.node, r.start, all[i-1].node, all[i-1].end)
		}
		if r.state != "complete" && r.node != "node-c" {
			t.Errorf("camera %s: a segment of %s is %s after a clean stop", r.cam, r.node, r.state)
		}
		key := r.node + "/" + r.path
		if _, dup := paths[key]; dup {
			t.Errorf("%s is indexed twice", key)
		}
		paths[key] = r.cam
		for n, dir := range dataDirs {
			_, err := os.Stat(filepath.Join(dir, "recordings", filepath.FromSlash(r.path)))
			switch {
			case n == r.node && r.object == "" && err != nil:
				t.Errorf("segment %s of %s: no file in its node's data dir: %v", r.path, r.node, err)
			case n != r.node && err == nil:
				// Paths carry the start time to the millisecond: two
				// nodes' files of one camera at one path would be
				// the same footage twice.
				t.Errorf("segment %s of %s: a file of that path is on %s too", r.path, r.node, n)
			}
		}
	}
	for n, dir := range dataDirs {
		rec := filepath.Join(dir, "recordings")
		err := filepath.WalkDir(rec, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".mp4") {
				return err
			}
			rel, _ := filepath.Rel(rec, p)
			if _, ok := paths[n+"/"+filepath.ToSlash(rel)]; !ok {
				t.Errorf("%s has %s, which no row names", n, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var movedCams []string
	for _, id := range ids {
		if len(perCam[id]) > 1 {
			movedCams = append(movedCams, id)
		}
	}
	sort.Strings(movedCams)
	if len(movedCams) < 4 {
		t.Errorf("only %v have segments from more than one node; the failover moved at least node-b's four", movedCams)
	}
	t.Logf("%d segments; cameras recorded by more than one node: %v", len(all), movedCams)
}
