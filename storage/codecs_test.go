package storage

import (
	"context"
	"reflect"
	"testing"

	"github.com/pressly/goose/v3"
)

// Migration 3 turns the one codec of a segment into its list of codecs: a
// row written before it keeps its video codec, and rows written after it
// carry a list (video first), which CodecList splits.
func TestSegmentCodecsMigration(t *testing.T) { EachBackend(t, testSegmentCodecsMigration) }

func testSegmentCodecsMigration(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	dialect, fsys, opts, err := s.idx.migrations()
	must(t, err)
	p, err := goose.NewProvider(dialect, s.w, fsys, opts...)
	must(t, err)
	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	// One statement each: PostgreSQL takes parameters only in a single
	// statement.
	_, err = s.w.ExecContext(ctx, `INSERT INTO cameras (id, name, created_ns) VALUES ('cam', '', 0)`)
	must(t, err)
	_, err = s.w.ExecContext(ctx, s.q(`INSERT INTO segments (camera_id, start_ns, id, end_ns, path, bytes, frames, keyframes, codec, width, height, state)
		VALUES ('cam', ?, 1, ?, 'cam/old.mp4', 10, 1, 1, 'avc1.640028', 1280, 720, 'complete')`), t0.UnixNano(), t0.UnixNano()+int64(1e9))
	must(t, err)
	bump := `UPDATE counters SET value = 1 WHERE name = 'segment_id'`
	if be.Postgres {
		bump = `SELECT setval('segment_id', 1)`
	}
	_, err = s.w.ExecContext(ctx, bump)
	must(t, err)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano() + 2e9, Codecs: "hvc1.1.6.L93.B0,mp4a.40.2", Width: 480, Height: 270})
	must(t, err)
	f.Abandon()
	segs, _, err := s.ListSegments(ctx, "cam", t0.UnixNano(), t0.UnixNano()+10e9, 10, "")
	must(t, err)
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	if got := segs[0].CodecList(); !reflect.DeepEqual(got, []string{"avc1.640028"}) {
		t.Errorf("migrated row: codecs %q", got)
	}
	if got := segs[1].CodecList(); segs[1].ID != id || !reflect.DeepEqual(got, []string{"hvc1.1.6.L93.B0", "mp4a.40.2"}) {
		t.Errorf("new row %d: codecs %q", segs[1].ID, got)
	}
	if got := (Segment{}).CodecList(); len(got) != 0 || got == nil {
		t.Errorf("empty codecs: %#v, want an empty list", got)
	}
}
