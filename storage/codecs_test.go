package storage

import (
	"context"
	"reflect"
	"testing"
)

// A segment's codec column holds the list of its tracks' codecs, video
// first: a row written with one codec reads back as a list of one, a row
// with several (audio to come) as all of them in order, and CodecList
// splits it.
func TestSegmentCodecs(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for i, codecs := range []string{"avc1.640028", "hvc1.1.6.L93.B0,mp4a.40.2"} {
		seg := Segment{Camera: "cam", StartNS: t0.UnixNano() + int64(i)*2e9, Codecs: codecs, Width: 480, Height: 270}
		id, f, err := s.CreateSegment(ctx, seg)
		must(t, err)
		f.Close()
		seg.ID, seg.EndNS, seg.Frames, seg.Keyframes = id, seg.StartNS+1e9, 25, 1
		must(t, s.UpdateSegment(ctx, seg))
	}
	segs, _, err := s.ListSegments(ctx, "cam", t0.UnixNano(), t0.UnixNano()+10e9, 10, "")
	must(t, err)
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	if got := segs[0].CodecList(); !reflect.DeepEqual(got, []string{"avc1.640028"}) {
		t.Errorf("one codec: %q", got)
	}
	if got := segs[1].CodecList(); !reflect.DeepEqual(got, []string{"hvc1.1.6.L93.B0", "mp4a.40.2"}) {
		t.Errorf("two codecs: %q", got)
	}
	if got := (Segment{}).CodecList(); len(got) != 0 || got == nil {
		t.Errorf("empty codecs: %#v, want an empty list", got)
	}
}
