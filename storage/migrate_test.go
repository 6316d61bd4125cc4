package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/nvr-project/nvr/internal/pgtest"
)

// TestCopyIndex: a single box's SQLite index is copied into PostgreSQL
// as a node's rows: cameras, every segment (times, paths, bytes, state,
// stream, object) and its sample index; the copied index then serves the
// listings. Rows still recording, or a destination that already has
// footage of a camera, are refused with nothing written.
func TestCopyIndex(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.URL(t)
	dir := t.TempDir()
	src, err := Open(ctx, dir)
	must(t, err)
	defer src.Close()
	var want []Segment
	for i := range 3 {
		want = append(want, record(t, src, "front", t0.UnixNano()+int64(i)*60*sec, 60*sec, 100+i))
	}
	want = append(want, record(t, src, "yard", t0.UnixNano(), 30*sec, 50))
	idx := []byte("a sample index")
	_, err = src.w.ExecContext(ctx, putSamples, want[1].ID, idx)
	must(t, err)

	// A segment still recording: refused.
	h, err := src.CreateSegment(ctx, Segment{Camera: "front", StartNS: t0.UnixNano() + 600*sec})
	must(t, err)
	io.WriteString(h, "vvvv")
	dst, err := OpenWithOptions(ctx, dir, Options{Postgres: pg, Node: "node-a"})
	must(t, err)
	defer dst.Close()
	if _, err := src.CopyIndex(ctx, dst); !errors.Is(err, ErrNotMigratable) {
		t.Fatalf("copy with a recording row: %v, want ErrNotMigratable", err)
	}
	must(t, h.Finish(ctx, Segment{EndNS: t0.UnixNano() + 601*sec, Frames: 1, Keyframes: 1}))
	last, err := src.Segment(ctx, h.ID())
	must(t, err)
	want = append(want, last)

	rep, err := src.CopyIndex(ctx, dst)
	must(t, err)
	if rep.Cameras != 2 || rep.Segments != len(want) {
		t.Fatalf("report %+v, want 2 cameras and %d segments", rep, len(want))
	}
	for _, cam := range []string{"front", "yard"} {
		got, _, err := dst.ListSegments(ctx, cam, 0, t0.UnixNano()+3600*sec, 100, "")
		must(t, err)
		var exp []Segment
		for _, w := range want {
			if w.Camera == cam {
				exp = append(exp, w)
			}
		}
		if len(got) != len(exp) {
			t.Fatalf("%s: %d segments copied, want %d", cam, len(got), len(exp))
		}
		for i, g := range got {
			w := exp[i]
			if g.Path != w.Path || g.StartNS != w.StartNS || g.EndNS != w.EndNS || g.Bytes != w.Bytes || g.Frames != w.Frames ||
				g.State != StateComplete || g.Stream != w.Stream || g.Node != "node-a" || g.Codecs != w.Codecs {
				t.Errorf("%s: copied %+v, from %+v", cam, g, w)
			}
			var data []byte
			err := dst.r.QueryRowContext(ctx, `SELECT data FROM segment_samples WHERE segment_id = $1`, g.ID).Scan(&data)
			if w.ID == want[1].ID {
				if err != nil || !bytes.Equal(data, idx) {
					t.Errorf("sample index of %s: %q, %v", g.Path, data, err)
				}
			} else if err == nil {
				t.Errorf("%s got a sample index it did not have", g.Path)
			}
		}
	}
	// The files are where the rows say, for the PostgreSQL index too.
	checkConsistent(t, dst)

	// Again: the destination has the cameras' footage now.
	if _, err := src.CopyIndex(ctx, dst); !errors.Is(err, ErrNotMigratable) {
		t.Fatalf("second copy: %v, want ErrNotMigratable", err)
	}
	got, _, err := dst.ListSegments(ctx, "front", 0, t0.UnixNano()+3600*sec, 100, "")
	must(t, err)
	if len(got) != 4 {
		t.Fatalf("after the refused copy: %d segments of front, want 4", len(got))
	}
}
