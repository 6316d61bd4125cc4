package nalrtp

import (
	"bytes"
	"testing"
)

// The DTS tracker on hand-made timelines (3600 ticks per frame).
func TestDTSTracker(t *testing.T) {
	type pic struct {
		pts     int64
		key     bool
		dts     int64
		wantErr bool
	}
	cases := []struct {
		name    string
		reorder int
		pics    []pic
	}{
		{"no reordering: DTS is PTS", 0, []pic{
			{0, true, 0, false}, {3600, false, 3600, false}, {7200, false, 7200, false}, {10800, true, 10800, false}}},
		{"signalled depth 2, IBBP", 2, []pic{
			{0, true, -7200, false}, {10800, false, -3600, false}, {3600, false, 0, false}, {7200, false, 3600, false},
			{21600, false, 7200, false}, {14400, false, 10800, false}, {18000, false, 14400, false},
			{25200, true, 18000, false}, {28800, false, 21600, false}}},
		{"unsignalled B-frame drops one picture, then depth is known", 0, []pic{
			{0, true, 0, false}, {7200, false, 7200, false}, {3600, false, 0, true},
			{14400, false, 7201, false}, {10800, false, 10800, false}, {21600, false, 14400, false}, {18000, false, 18000, false}}},
		{"backward jump at a keyframe restarts the timeline", 0, []pic{
			{90000, true, 90000, false}, {93600, false, 93600, false}, {3600, true, 3600, false}, {7200, false, 7200, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := dtsTracker{reorder: c.reorder, step: 3600}
			for i, p := range c.pics {
				dts, err := tr.next(p.pts, p.key)
				if (err != nil) != p.wantErr {
					t.Fatalf("pic %d: error %v, want error %v", i, err, p.wantErr)
				}
				if err == nil && dts != p.dts {
					t.Errorf("pic %d (pts %d): DTS %d, want %d", i, p.pts, dts, p.dts)
				}
			}
		})
	}
}

func TestIndexStartCode(t *testing.T) {
	cases := []struct {
		b    []byte
		want int
	}{
		{nil, -1},
		{[]byte{0, 1}, -1},
		{[]byte{0, 0, 1}, 0},
		{[]byte{0, 0, 0, 1}, 1},
		{[]byte{1, 1, 0, 0, 1}, 2},
		{[]byte{0x65, 0, 0, 3, 1, 0, 1}, -1}, // emulation prevention is no start code
		{[]byte{0x65, 1, 0, 1, 0, 0, 2, 0, 0, 1, 9}, 7},
	}
	for _, c := range cases {
		if got := indexStartCode(c.b); got != c.want {
			t.Errorf("indexStartCode(%x) = %d, want %d", c.b, got, c.want)
		}
		if want := bytes.Index(c.b, []byte{0, 0, 1}); want != c.want {
			t.Errorf("table wrong for %x", c.b)
		}
	}
}
