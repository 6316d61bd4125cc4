package storage

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestStreams(t *testing.T) { EachBackend(t, testStreams) }

// testStreams: a camera's main and sub streams starting at the same
// instant get their own files and rows; every listing means the main
// stream unless asked for the sub one; recovery puts a sub stream file,
// with or without its row, back into the sub stream.
func testStreams(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()
	open := map[int64]*SegmentFile{}
	create := func(stream string, start int64, content string) Segment {
		t.Helper()
		id, f, err := createSeg(s, ctx, Segment{Camera: "cam", Stream: stream, StartNS: start})
		if err != nil {
			t.Fatal(err)
		}
		open[id] = f
		t.Cleanup(func() { f.Abandon() })
		if _, err := io.WriteString(f, content); err != nil {
			t.Fatal(err)
		}
		seg, err := s.Segment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return seg
	}
	finish := func(seg Segment, frames int64) {
		t.Helper()
		if err := open[seg.ID].Finish(ctx, Segment{EndNS: seg.StartNS + frames*sec, Frames: frames, Keyframes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	main := create("", base, "main")
	sub := create(StreamSub, base, "sub")
	if main.Stream != StreamMain || sub.Stream != StreamSub {
		t.Fatalf("streams %q, %q", main.Stream, sub.Stream)
	}
	if main.Path != "cam/2026/03/29/00-59-58.123.mp4" || sub.Path != "cam/sub/2026/03/29/00-59-58.123.mp4" {
		t.Fatalf("paths %q, %q", main.Path, sub.Path)
	}
	finish(main, 2)
	finish(sub, 3)
	if _, err := s.CreateSegment(ctx, Segment{Camera: "cam", Stream: "third", StartNS: base}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a segment of stream third: %v, want ErrInvalid", err)
	}

	list := func(stream string) []Segment {
		t.Helper()
		segs, _, err := s.ListStreamSegments(ctx, "cam", stream, base-sec, base+3600*sec, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		return segs
	}
	if segs, _, err := s.ListSegments(ctx, "cam", base-sec, base+3600*sec, 0, ""); err != nil || len(segs) != 1 || segs[0].ID != main.ID {
		t.Fatalf("ListSegments %+v, %v: want the main stream's one", segs, err)
	}
	if segs := list(StreamSub); len(segs) != 1 || segs[0].ID != sub.ID || segs[0].Stream != StreamSub {
		t.Fatalf("sub stream segments %+v", segs)
	}
	if _, _, err := s.ListStreamSegments(ctx, "cam", "nope", base, base+sec, 0, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("listing stream nope: %v, want ErrInvalid", err)
	}
	spans, err := s.Timeline(ctx, "cam", base-sec, base+3600*sec)
	if err != nil || len(spans) != 1 || spans[0] != (Span{base, base + 2*sec}) {
		t.Fatalf("main timeline %+v, %v", spans, err)
	}
	spans, err = s.StreamTimeline(ctx, "cam", StreamSub, base-sec, base+3600*sec)
	if err != nil || len(spans) != 1 || spans[0] != (Span{base, base + 3*sec}) {
		t.Fatalf("sub timeline %+v, %v", spans, err)
	}
	vMain, err := s.RangeVersion(ctx, "cam", base-sec, base+3600*sec)
	must(t, err)
	vSub, err := s.StreamRangeVersion(ctx, "cam", StreamSub, base-sec, base+3600*sec)
	must(t, err)
	if vMain == vSub {
		t.Fatal("both streams' ranges have one version")
	}
	if st, err := s.CameraStats(ctx, "cam"); err != nil || st.Segments != 2 {
		t.Fatalf("camera stats %+v, %v: want both streams' segments counted (they share its disk)", st, err)
	}

	// A crash: a sub segment left recording, and a sub file with no row.
	torn := create(StreamSub, base+10*sec, "0123456789012345678901234X")
	writeRel(t, s, "cam/sub/2026/03/29/01-00-20.000.mp4", "01234567890123456789")
	rep, err := s.Recover(ctx, fakeScanner)
	if err != nil || rep.Finalised != 1 || rep.Indexed != 1 || len(rep.Skipped) != 0 {
		t.Fatalf("recover %+v, %v", rep, err)
	}
	segs := list(StreamSub)
	if len(segs) != 3 {
		t.Fatalf("sub stream after recovery %+v", segs)
	}
	for _, seg := range segs {
		if seg.Stream != StreamSub || seg.State != StateComplete {
			t.Errorf("recovered %+v", seg)
		}
	}
	if segs[1].ID != torn.ID || segs[2].Path != "cam/sub/2026/03/29/01-00-20.000.mp4" || segs[2].Frames != 2 {
		t.Errorf("recovered sub segments %+v", segs[1:])
	}
	if got := list(StreamMain); len(got) != 1 {
		t.Fatalf("main stream after recovery %+v: sub files went into it", got)
	}

	// Deletion and retention see both streams.
	if err := s.DeleteSegment(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if exists(s, sub.Path) || len(list(StreamSub)) != 2 {
		t.Fatal("the deleted sub segment is still there")
	}
}
