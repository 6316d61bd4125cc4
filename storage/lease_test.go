package storage

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// openNode opens node's own data dir on the shared index o.
func openNode(t *testing.T, o Options, node string) (*Store, *Leases) {
	t.Helper()
	o.Node = node
	s, err := OpenWithOptions(context.Background(), filepath.Join(t.TempDir(), node), o)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	l, err := s.Leases(node)
	must(t, err)
	return s, l
}

// TestLeaseFencing: two nodes share one index, each with its own data dir.
// A camera's lease goes to one node at a time; every take raises the
// token; a segment write under a stale token (the lease expired in the
// database, then taken by the other node) is refused with ErrFenced, while
// the new holder's writes go through.
func TestLeaseFencing(t *testing.T) {
	ctx := context.Background()
	o := pgBackend.Options(t)
	a, la := openNode(t, o, "node-a")
	b, lb := openNode(t, o, "node-b")
	must(t, a.EnsureCamera(ctx, "cam", "cam"))
	const ttl = 10 * time.Second

	leaseA, ok, err := la.Take(ctx, "cam", ttl)
	must(t, err)
	if !ok || leaseA.Token != 1 {
		t.Fatalf("first take: ok=%v lease=%+v", ok, leaseA)
	}
	if _, ok, err := lb.Take(ctx, "cam", ttl); err != nil || ok {
		t.Fatalf("node-b took a held lease: ok=%v err=%v", ok, err)
	}
	id, f, err := createSeg(a, ctx, Segment{Camera: "cam", StartNS: 1e18, Lease: leaseA})
	must(t, err)
	must(t, a.UpdateSegment(ctx, Segment{ID: id, Camera: "cam", EndNS: 1e18 + 1e9, Frames: 1, Lease: leaseA}))

	// A partition: node-a's lease runs out in the database.
	if _, err := a.w.ExecContext(ctx, `UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if got, err := la.Renew(ctx, ttl); err != nil || len(got) != 0 {
		t.Fatalf("renew of an expired lease: %v %v", got, err)
	}
	err = a.UpdateSegment(ctx, Segment{ID: id, Camera: "cam", EndNS: 1e18 + 2e9, Frames: 2, Lease: leaseA})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("write on an expired lease: err = %v, want ErrFenced", err)
	}
	leaseB, ok, err := lb.Take(ctx, "cam", ttl)
	must(t, err)
	if !ok || leaseB.Token != 2 || leaseB.Holder != "node-b" {
		t.Fatalf("takeover: ok=%v lease=%+v", ok, leaseB)
	}
	for name, err := range map[string]error{
		"update": a.UpdateSegment(ctx, Segment{ID: id, Camera: "cam", EndNS: 1e18 + 2e9, Frames: 2, Lease: leaseA}),
		"finish": f.Finish(ctx, Segment{ID: id, Camera: "cam", EndNS: 1e18 + 2e9, Frames: 2, Lease: leaseA}),
	} {
		if !errors.Is(err, ErrFenced) {
			t.Errorf("stale %s: err = %v, want ErrFenced", name, err)
		}
	}
	if _, err := a.CreateSegment(ctx, Segment{Camera: "cam", StartNS: 1e18 + 5e9, Lease: leaseA}); !errors.Is(err, ErrFenced) {
		t.Errorf("stale insert: err = %v, want ErrFenced", err)
	}
	seg, err := a.Segment(ctx, id)
	must(t, err)
	if seg.Frames != 1 || seg.State != StateRecording {
		t.Errorf("stale writes changed the row: %+v", seg)
	}
	id2, f2, err := createSeg(b, ctx, Segment{Camera: "cam", StartNS: 1e18 + 5e9, Lease: leaseB})
	must(t, err)
	f2.Abandon()
	must(t, b.UpdateSegment(ctx, Segment{ID: id2, Camera: "cam", EndNS: 1e18 + 6e9, Frames: 1, Lease: leaseB}))

	holders, err := a.Holders(ctx)
	must(t, err)
	if holders["cam"] != "node-b" {
		t.Errorf("holders = %v", holders)
	}
	// Release frees it for node-a at once, with the next token.
	must(t, lb.Release(ctx, "cam", leaseB))
	leaseA2, ok, err := la.Take(ctx, "cam", ttl)
	must(t, err)
	if !ok || leaseA2.Token != 3 {
		t.Fatalf("take after release: ok=%v lease=%+v", ok, leaseA2)
	}
	// Nodes alive: both, until one leaves.
	if n, err := la.Heartbeat(ctx, ttl); err != nil || n != 1 {
		t.Fatalf("heartbeat: %d %v", n, err)
	}
	if n, err := lb.Heartbeat(ctx, ttl); err != nil || n != 2 {
		t.Fatalf("heartbeat: %d %v", n, err)
	}
	must(t, lb.Leave(ctx))
	if ok, err := la.Alive(ctx, "node-b"); err != nil || ok {
		t.Fatalf("node-b alive after leaving: %v %v", ok, err)
	}
}

// TestNodeScopedRecovery: a node's recovery leaves the rows of another
// node's segments alone (their files are on the other node's disk).
func TestNodeScopedRecovery(t *testing.T) {
	ctx := context.Background()
	o := pgBackend.Options(t)
	a, _ := openNode(t, o, "node-a")
	id, f, err := createSeg(a, ctx, Segment{Camera: "cam", StartNS: 1e18})
	must(t, err)
	f.Abandon()
	b, _ := openNode(t, o, "node-b")
	if _, err := b.Recover(ctx, nil); err != nil {
		t.Fatal(err)
	}
	seg, err := a.Segment(ctx, id)
	if err != nil || seg.State != StateRecording {
		t.Fatalf("node-b's recovery touched node-a's recording row: %+v %v", seg, err)
	}
}

// TestLeasesNeedPostgres: SQLite keeps single-node behaviour, no leases.
func TestLeasesNeedPostgres(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir())
	must(t, err)
	defer s.Close()
	if _, err := s.Leases("n"); !errors.Is(err, ErrNoLeases) {
		t.Fatalf("err = %v", err)
	}
}

// TestLegacyRowsAdopted: an index written by a data dir before nodes
// existed becomes that data dir's node's: its rows are retained and
// recovered by the node.
func TestLegacyRowsAdopted(t *testing.T) {
	ctx := context.Background()
	o := pgBackend.Options(t)
	dir := filepath.Join(t.TempDir(), "d")
	s, err := OpenWithOptions(ctx, dir, o)
	must(t, err)
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: 1e18})
	must(t, err)
	f.Abandon()
	must(t, s.Close())
	o.Node = "node-a"
	s, err = OpenWithOptions(ctx, dir, o)
	must(t, err)
	defer s.Close()
	var node string
	if err := s.w.QueryRowContext(ctx, `SELECT node FROM segments WHERE id = $1`, id).Scan(&node); err != nil || node != "node-a" {
		t.Fatalf("legacy row's node = %q (%v), want node-a", node, err)
	}
}
