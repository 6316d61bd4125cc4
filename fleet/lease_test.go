package fleet

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/pgtest"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/schedule"
)

// nodeConfig is node's config: its own data dir, the shared index, and
// the same cameras (all served by one test camera; pins by camera id).
func nodeConfig(t *testing.T, pg, node, url string, cams []string, pins map[string]string) *config.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nsegment_duration: 1s\nnode: %s\nindex:\n  postgres: %q\ncameras:\n",
		filepath.Join(t.TempDir(), node), node, pg)
	for _, id := range cams {
		fmt.Fprintf(&b, "  - id: %s\n    url: %s\n", id, url)
		if p := pins[id]; p != "" {
			fmt.Fprintf(&b, "    node: %s\n", p)
		}
	}
	return parseConfig(t, b.String())
}

// recorders returns, by camera, the nodes whose fleet records it now.
func recorders(nodes map[string]*Fleet) map[string][]string {
	out := map[string][]string{}
	for name, f := range nodes {
		for _, c := range f.Cameras() {
			if c.State == StateRecording {
				out[c.ID] = append(out[c.ID], name)
			}
		}
	}
	return out
}

// spread checks that every camera is recorded by exactly one node and
// returns how many each node records.
func spread(rec map[string][]string, cams []string) (map[string]int, bool) {
	per := map[string]int{}
	for _, id := range cams {
		if len(rec[id]) != 1 {
			return nil, false
		}
		per[rec[id][0]]++
	}
	return per, true
}

// TestThreeNodes: three nodes (fleets with their own data dirs) share one
// PostgreSQL index and six cameras, one pinned to node-c. Every camera is
// recorded by exactly one node, two per node, the pinned one on node-c.
// node-b then stops renewing (killed, paused or cut off): its cameras are
// recorded by the other two within 30 s, three each. No two segments of a
// camera overlap in the index, across nodes.
func TestThreeNodes(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	cams := []string{"c1", "c2", "c3", "c4", "c5", "c6"}
	pins := map[string]string{"c1": "node-c"}
	ctx := context.Background()
	nodes := map[string]*Fleet{}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		f, err := Open(ctx, nodeConfig(t, pg, n, cam.URL(), cams, pins), Options{Logger: discardLog(), InitData: true, LeaseTTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		nodes[n] = f
		defer f.Close(ctx)
	}
	var per map[string]int
	eventually(t, 20*time.Second, "every camera on one node, two per node", func() bool {
		rec := recorders(nodes)
		var ok bool
		per, ok = spread(rec, cams)
		return ok && per["node-a"] == 2 && per["node-b"] == 2 && per["node-c"] == 2 && rec["c1"][0] == "node-c"
	})
	if st := nodes["node-c"].Leases(); st.Held != 2 || st.Takeovers < 2 {
		t.Errorf("node-c lease stats %+v", st)
	}
	// Any node's status says which node records a camera.
	eventually(t, 5*time.Second, "node-a to name c1's recorder", func() bool {
		for _, c := range nodes["node-a"].Cameras() {
			if c.ID == "c1" {
				return c.Node == "node-c"
			}
		}
		return false
	})

	nodes["node-b"].pauseRenew.Store(true)
	killed := time.Now()
	survivors := map[string]*Fleet{"node-a": nodes["node-a"], "node-c": nodes["node-c"]}
	eventually(t, 30*time.Second, "node-b's cameras recorded by the others", func() bool {
		rec := recorders(nodes)
		p, ok := spread(rec, cams)
		return ok && p["node-a"] == 3 && p["node-c"] == 3 && len(recorders(survivors)) == len(cams)
	})
	t.Logf("takeover after %v", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // a few more segments after the takeover
	for _, f := range nodes {
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT camera_id, node, start_ns, end_ns FROM segments ORDER BY camera_id, start_ns, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lastCam, lastNode string
	var lastEnd int64
	nodesOf := map[string]map[string]bool{}
	for rows.Next() {
		var c, n string
		var s, e int64
		if err := rows.Scan(&c, &n, &s, &e); err != nil {
			t.Fatal(err)
		}
		if nodesOf[c] == nil {
			nodesOf[c] = map[string]bool{}
		}
		nodesOf[c][n] = true
		if c == lastCam && s < lastEnd {
			t.Errorf("camera %s: a segment of %s starting at %d overlaps one of %s ending at %d", c, n, s, lastNode, lastEnd)
		}
		lastCam, lastNode, lastEnd = c, n, e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, id := range cams {
		if nodesOf[id]["node-b"] && (nodesOf[id]["node-a"] || nodesOf[id]["node-c"]) {
			moved++
		}
	}
	if moved != 2 {
		t.Errorf("%d cameras have segments from node-b and from a survivor, want 2: %v", moved, nodesOf)
	}
}

// TestLateWriteRefused: a node whose lease was taken while it was cut off
// (renewals paused, the lease handed to another node in the database) has
// its next segment write refused by the database, and its job stops long
// before its own local expiry would have stopped it.
func TestLateWriteRefused(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	ctx := context.Background()
	f, err := Open(ctx, nodeConfig(t, pg, "node-a", cam.URL(), []string{"c1"}, nil), Options{Logger: discardLog(), InitData: true, LeaseTTL: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	state := func() State { return f.Cameras()[0].State }
	eventually(t, 15*time.Second, "recording", func() bool { return state() == StateRecording })
	f.pauseRenew.Store(true)
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE leases SET holder = 'node-x', token = token + 1, expires_at = clock_timestamp() + interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	eventually(t, 10*time.Second, "the fenced job to stop", func() bool { return state() != StateRecording && f.Leases().Held == 0 })
	t.Logf("stopped %v after the lease was taken", time.Since(cut).Round(10*time.Millisecond))
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM segments WHERE node = 'node-a' AND state = 'recording' AND end_ns > $1`, cut.Add(time.Second).UnixNano()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows grew past the cut", n)
	}
}

// TestRemovedCameraLeaseReleased: a camera removed from the config gives
// its lease back instead of renewing it forever, so another node could
// take it if it is added there.
func TestRemovedCameraLeaseReleased(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	ctx := context.Background()
	cfg := nodeConfig(t, pg, "node-a", cam.URL(), []string{"c1", "c2"}, nil)
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	eventually(t, 15*time.Second, "two leases", func() bool { return f.Leases().Held == 2 })
	less := *cfg
	less.Cameras = cfg.Cameras[:1]
	if err := f.Apply(ctx, &less); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "c2's lease released", func() bool {
		h, err := f.Store().Holders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, held := h["c2"]
		return !held && h["c1"] == "node-a"
	})
}

// TestLateWriteRefusedSub: a recorded sub stream writes under its camera's
// lease. Once the lease is taken by another node, the sub stream's writes
// are refused too and its recording stops with the main stream's; no sub
// row grows past the cut.
func TestLateWriteRefusedSub(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Path: "/main", Clip: testcam.ClipBase240,
		Streams: map[string]string{"/sub": testcam.ClipBase240}})
	ctx := context.Background()
	cfg := parseConfig(t, fmt.Sprintf("data_dir: %s\nsegment_duration: 1s\nnode: node-a\nindex:\n  postgres: %q\ncameras:\n"+
		"  - id: c1\n    url: %s\n    sub_url: %s\n    record_sub: true\n",
		filepath.Join(t.TempDir(), "node-a"), pg, cam.URLFor("/main"), cam.URLFor("/sub")))
	f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, LeaseTTL: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	status := func() CameraStatus { return f.Cameras()[0] }
	eventually(t, 15*time.Second, "both streams recording", func() bool {
		st := status()
		return st.State == StateRecording && st.Sub != nil && st.Sub.State == SubRecording
	})
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, 10*time.Second, "sub stream rows", func() bool {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM segments WHERE stream = 'sub' AND path LIKE 'c1/sub/%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	f.pauseRenew.Store(true)
	if _, err := db.Exec(`UPDATE leases SET holder = 'node-x', token = token + 1, expires_at = clock_timestamp() + interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	eventually(t, 10*time.Second, "both fenced streams to stop", func() bool {
		st := status()
		return st.State != StateRecording && st.Sub.State != SubRecording && f.Leases().Held == 0
	})
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM segments WHERE stream = 'sub' AND state = 'recording' AND end_ns > $1`, cut.Add(time.Second).UnixNano()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d sub rows grew past the cut", n)
	}
}

// TestLiveWithoutLease: live view needs no lease. On a node that does not
// hold a camera's lease (another node records it), a viewer gets pictures
// from a live-only session of that node, which records nothing; and a
// camera outside its window, which no node holds then, is live on the
// node its viewer asked.
func TestLiveWithoutLease(t *testing.T) {
	pg := pgtest.URL(t)
	cam := startCam(t, testcam.Options{Clip: testcam.ClipBase240})
	ctx := context.Background()
	clock := schedule.NewFakeClock(time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC))
	nodes := map[string]*Fleet{}
	for _, n := range []string{"node-a", "node-b"} {
		cfg := parseConfig(t, fmt.Sprintf(`data_dir: %s
segment_duration: 1s
live_linger: 200ms
node: %s
index:
  postgres: %q
cameras:
  - id: rec
    url: %s
    node: node-a
  - id: shop
    url: %s
    schedule:
      - start: "0 22 * * *"
        duration: 1h
`, filepath.Join(t.TempDir(), n), n, pg, cam.URL(), cam.URL()))
		f, err := Open(ctx, cfg, Options{Logger: discardLog(), InitData: true, LeaseTTL: 2 * time.Second, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		nodes[n] = f
		defer f.Close(ctx)
	}
	eventually(t, 20*time.Second, "rec recorded by node-a", func() bool {
		rec := recorders(nodes)
		return len(rec["rec"]) == 1 && rec["rec"][0] == "node-a" && len(rec["shop"]) == 0
	})
	before := cam.Stats().ActiveSessions
	for _, id := range []string{"rec", "shop"} {
		v, err := nodes["node-b"].Live(id).Watch()
		if err != nil {
			t.Fatal(err)
		}
		firstPicture(t, v)
		if got := cam.Stats().ActiveSessions; got != before+1 {
			t.Errorf("%s watched on node-b: %d camera sessions, want %d", id, got, before+1)
		}
		v.Close()
		eventually(t, 10*time.Second, id+"'s live session on node-b closed", func() bool { return cam.Stats().ActiveSessions == before })
	}
	if rec := recorders(nodes); len(rec["rec"]) != 1 || rec["rec"][0] != "node-a" || len(rec["shop"]) != 0 {
		t.Errorf("after the viewers: recorders %v", rec)
	}
	for _, id := range []string{"rec", "shop"} {
		segs, _, err := nodes["node-b"].Store().ListSegments(ctx, id, 0, 1<<62, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			if s.Node != "node-a" {
				t.Fatalf("camera %s: a segment of %s, which only watched", id, s.Node)
			}
		}
	}
}
