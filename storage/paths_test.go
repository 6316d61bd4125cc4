package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSegmentPath(t *testing.T) {
	tests := []struct {
		camera string
		t      time.Time
		want   string
	}{
		{"front-door", time.Date(2026, 3, 29, 0, 59, 58, 123_456_789, time.UTC), "front-door/2026/03/29/00-59-58.123.mp4"},
		// Local times are converted to UTC (Berlin is UTC+2 on this date).
		{"cam", time.Date(2026, 3, 29, 3, 0, 0, 0, time.FixedZone("CEST", 2*3600)), "cam/2026/03/29/01-00-00.000.mp4"},
		{"cam_2", time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), "cam_2/1999/12/31/23-59-59.999.mp4"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			got := SegmentPath(tc.camera, tc.t)
			if got != tc.want {
				t.Fatalf("SegmentPath = %q, want %q", got, tc.want)
			}
			cam, stream, start, ok := parseSegmentPath(got)
			if !ok || cam != tc.camera || stream != StreamMain || start != tc.t.Truncate(time.Millisecond).UnixNano() {
				t.Fatalf("parseSegmentPath(%q) = %q, %q, %d, %v", got, cam, stream, start, ok)
			}
			sub := StreamSegmentPath(tc.camera, StreamSub, tc.t)
			if want := tc.camera + "/sub/" + strings.TrimPrefix(tc.want, tc.camera+"/"); sub != want {
				t.Fatalf("sub stream path %q, want %q", sub, want)
			}
			cam, stream, start, ok = parseSegmentPath(sub)
			if !ok || cam != tc.camera || stream != StreamSub || start != tc.t.Truncate(time.Millisecond).UnixNano() {
				t.Fatalf("parseSegmentPath(%q) = %q, %q, %d, %v", sub, cam, stream, start, ok)
			}
		})
	}
}

// segmentPathCases seed FuzzParseSegmentPath: the names recovery must
// accept and the ones it must leave alone.
var segmentPathCases = []struct {
	path string
	ok   bool
}{
	{"cam/2026/03/29/00-59-58.123.mp4", true},
	{"cam/2026/03/29/00-59-58.123-1.mp4", true},
	{"cam/2026/03/29/00-59-58.123-999.mp4", true},
	{"cam/2026/03/29/00-59-58.123-0.mp4", false},
	{"cam/2026/03/29/00-59-58.123-01.mp4", false},
	{"cam/2026/03/29/00-59-58.123-1000.mp4", false},
	{"cam/2026/03/29/00-59-58.123--1.mp4", false},
	{"cam/2026/03/29/00-59-58.123x.mp4", false},
	{"cam/2026/3/29/00-59-58.123.mp4", false},
	{"cam/2026/02/30/00-59-58.123.mp4", false},
	{"cam/2026/03/29/24-00-00.000.mp4", false},
	{"cam/2026/03/29/00-59-58.12.mp4", false},
	{"cam/2026/03/29/00-59-58.123.MP4", false},
	{"Cam/2026/03/29/00-59-58.123.mp4", false},
	{"../2026/03/29/00-59-58.123.mp4", false},
	{"cam/x/2026/03/29/00-59-58.123.mp4", false},
	{"cam/sub/2026/03/29/00-59-58.123.mp4", true},
	{"cam/sub/2026/03/29/00-59-58.123-2.mp4", true},
	{"cam/sub/sub/2026/03/29/00-59-58.123.mp4", false},
	{"cam/main/2026/03/29/00-59-58.123.mp4", false},
	{"cam/sub/2026/03/29/00-59-58.123", false},
	{"cam/2026/03/29/holiday.mp4", false},
	{"cam/0000/01/01/00-00-00.000.mp4", false}, // not representable in int64 ns
	{"cam/2263/01/01/00-00-00.000.mp4", false},
	{"", false},
}

func TestParseSegmentPath(t *testing.T) {
	for _, tc := range segmentPathCases {
		t.Run(tc.path, func(t *testing.T) {
			if _, _, _, ok := parseSegmentPath(tc.path); ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func FuzzParseSegmentPath(f *testing.F) {
	for _, tc := range segmentPathCases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cam, stream, start, ok := parseSegmentPath(p)
		if !ok {
			return
		}
		// Whatever is accepted is a safe path of a valid camera, and is
		// what CreateSegment could have made from (cam, start).
		if checkRelPath(p) != nil || ValidCameraID(cam) != nil {
			t.Fatalf("accepted unsafe %q", p)
		}
		base := StreamSegmentPath(cam, stream, time.Unix(0, start))
		okName := false
		for n := 0; n < maxPathCollisions && !okName; n++ {
			okName = withSuffix(base, n) == p
		}
		if !okName {
			t.Fatalf("accepted %q, which SegmentPath(%q, %d)=%q cannot produce", p, cam, start, base)
		}
	})
}

func TestCheckRelPath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"cam/2026/03/29/00-00-00.000.mp4", true},
		{"../etc/passwd", false},
		{"cam/../../etc/passwd", false},
		{"/etc/passwd", false},
		{"cam//x.mp4", false},
		{"cam/./x.mp4", false},
		{`cam\..\x.mp4`, false},
		{"cam/x.mp4\x00", false},
		{"", false},
	}
	for _, tc := range tests {
		if err := checkRelPath(tc.path); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnsafePath)) {
			t.Errorf("checkRelPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestCreateSegmentCollision(t *testing.T) { EachBackend(t, testCreateSegmentCollision) }

func testCreateSegmentCollision(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	start := t0.UnixNano()
	var paths []string
	for range 3 {
		id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: start + 100}) // same millisecond
		if err != nil {
			t.Fatal(err)
		}
		f.Abandon()
		seg, _ := s.Segment(ctx, id)
		paths = append(paths, seg.Path)
	}
	// A stray file (no row) at the next name is not overwritten either.
	writeRel(t, s, "cam/2026/03/29/00-59-58.123-3.mp4", "stray")
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: start})
	if err != nil {
		t.Fatal(err)
	}
	f.Abandon()
	seg, _ := s.Segment(ctx, id)
	paths = append(paths, seg.Path)
	want := []string{"cam/2026/03/29/00-59-58.123.mp4", "cam/2026/03/29/00-59-58.123-1.mp4", "cam/2026/03/29/00-59-58.123-2.mp4", "cam/2026/03/29/00-59-58.123-4.mp4"}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("paths %v, want %v", paths, want)
		}
	}
}

func TestCreateSegmentInvalid(t *testing.T) { EachBackend(t, testCreateSegmentInvalid) }

func testCreateSegmentInvalid(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	start := t0.UnixNano()
	tests := []struct {
		name string
		seg  Segment
		want error
	}{
		{"empty camera", Segment{StartNS: start}, ErrInvalid},
		{"upper-case camera", Segment{Camera: "Cam", StartNS: start}, ErrInvalid},
		{"camera too long", Segment{Camera: string(make([]byte, 65)), StartNS: start}, ErrInvalid},
		{"ends before start", Segment{Camera: "cam", StartNS: start, EndNS: start - 1}, ErrInvalid},
		{"too long", Segment{Camera: "cam", StartNS: start, EndNS: start + int64(MaxSegmentDuration) + 1}, ErrInvalid},
		{"path escapes", Segment{Camera: "cam", StartNS: start, Path: "cam/../../x.mp4"}, ErrUnsafePath},
		{"path of other camera", Segment{Camera: "cam", StartNS: start, Path: "other/x.mp4"}, ErrUnsafePath},
		{"absolute path", Segment{Camera: "cam", StartNS: start, Path: "/tmp/x.mp4"}, ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateSegment(ctx, tc.seg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if n, _ := s.Cameras(ctx); len(n) != 0 {
		t.Fatalf("cameras created by refused segments: %v", n)
	}
}

func TestUpdateSegmentInvalid(t *testing.T) { EachBackend(t, testUpdateSegmentInvalid) }

func testUpdateSegmentInvalid(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	start := t0.UnixNano()
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: start})
	if err != nil {
		t.Fatal(err)
	}
	f.Abandon()
	tests := []struct {
		name string
		seg  Segment
		want error
	}{
		{"unknown id", Segment{ID: id + 1, EndNS: start}, ErrNotFound},
		{"end before start", Segment{ID: id, EndNS: start - 1}, ErrInvalid},
		{"longer than the bound", Segment{ID: id, EndNS: start + int64(MaxSegmentDuration) + 1}, ErrInvalid},
		{"negative bytes", Segment{ID: id, EndNS: start, Bytes: -1}, ErrInvalid},
		{"more keyframes than frames", Segment{ID: id, EndNS: start, Frames: 1, Keyframes: 2}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.UpdateSegment(ctx, tc.seg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFinishEmptySegmentRemoves(t *testing.T) { EachBackend(t, testFinishEmptySegmentRemoves) }

func testFinishEmptySegmentRemoves(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	id, f, err := createSeg(s, ctx, Segment{Camera: "cam", StartNS: t0.UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := s.Segment(ctx, id)
	if err := f.Finish(ctx, Segment{ID: id, EndNS: seg.StartNS}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Segment(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("row kept: %v", err)
	}
	if exists(s, seg.Path) {
		t.Fatal("file kept")
	}
}
