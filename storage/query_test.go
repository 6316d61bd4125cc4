package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// insertRow inserts a row directly (tests only), bypassing file creation.
func insertRow(t testing.TB, s *Store, seg Segment) int64 {
	t.Helper()
	if seg.State == "" {
		seg.State = StateComplete
	}
	if seg.Path == "" {
		seg.Path = fmt.Sprintf("%s/row-%d-%d.mp4", seg.Camera, seg.StartNS, seg.EndNS)
	}
	id, err := s.insertSegment(context.Background(), seg, seg.Path, seg.State)
	if err != nil {
		t.Fatalf("insert %+v: %v", seg, err)
	}
	return id
}

func TestListSegmentsOverlap(t *testing.T) { EachBackend(t, testListSegmentsOverlap) }

func testListSegmentsOverlap(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()
	at := func(x int64) int64 { return base + x*sec }
	ids := map[string]int64{
		"A": insertRow(t, s, Segment{Camera: "cam", StartNS: at(10), EndNS: at(20)}),
		"B": insertRow(t, s, Segment{Camera: "cam", StartNS: at(20), EndNS: at(30)}),
		"C": insertRow(t, s, Segment{Camera: "cam", StartNS: at(30), EndNS: at(90)}),
		"R": insertRow(t, s, Segment{Camera: "cam", StartNS: at(100), EndNS: at(105), State: StateRecording}),
		"D": insertRow(t, s, Segment{Camera: "cam", StartNS: at(110), EndNS: at(120), State: StateDeleting}),
		"O": insertRow(t, s, Segment{Camera: "other", StartNS: at(10), EndNS: at(200)}),
		// The longest segment allowed, starting long before the ranges.
		"L": insertRow(t, s, Segment{Camera: "long", StartNS: at(0), EndNS: at(0) + int64(MaxSegmentDuration)}),
	}
	tests := []struct {
		name       string
		camera     string
		start, end int64
		want       []string
	}{
		{"exact segment", "cam", at(20), at(30), []string{"B"}},
		{"touching ends excluded", "cam", at(20), at(20) + 1, []string{"B"}},
		{"one ns before start", "cam", at(20) - 1, at(20), []string{"A"}},
		{"across boundary", "cam", at(19), at(21), []string{"A", "B"}},
		{"before everything", "cam", at(0), at(10), nil},
		{"inside spanning segment", "cam", at(40), at(50), []string{"C"}},
		{"recording included", "cam", at(95), at(101), []string{"R"}},
		{"deleting hidden", "cam", at(110), at(120), nil},
		{"whole day", "cam", at(-86400), at(86400), []string{"A", "B", "C", "R"}},
		{"other camera", "other", at(0), at(1), nil},
		{"max length segment seen at its end", "long", at(0) + int64(MaxSegmentDuration) - 1, at(0) + int64(MaxSegmentDuration), []string{"L"}},
		{"unknown camera", "nope", at(0), at(1000), nil},
	}
	name := map[int64]string{}
	for k, v := range ids {
		name[v] = k
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, next, err := s.ListSegments(ctx, tc.camera, tc.start, tc.end, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, seg := range segs {
				got = append(got, name[seg.ID])
			}
			if !slices.Equal(got, tc.want) || next != "" {
				t.Fatalf("got %v (next %q), want %v", got, next, tc.want)
			}
		})
	}
}

func TestListSegmentsInvalid(t *testing.T) { EachBackend(t, testListSegmentsInvalid) }

func testListSegmentsInvalid(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	tests := []struct {
		name       string
		start, end int64
		cursor     string
	}{
		{"empty range", 5, 5, ""},
		{"reversed range", 6, 5, ""},
		{"garbage cursor", 0, 10, "not-a-cursor!"},
		{"sql in cursor", 0, 10, "'; DROP TABLE segments; --"},
		{"wrong prefix", 0, 10, "YzI6MTox"},  // c2:1:1
		{"negative id", 0, 10, "YzE6MTotMQ"}, // c1:1:-1
		{"huge cursor", 0, 10, string(make([]byte, 1000))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.ListSegments(ctx, "cam", tc.start, tc.end, 10, tc.cursor)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestListSegmentsPagination(t *testing.T) { EachBackend(t, testListSegmentsPagination) }

func testListSegmentsPagination(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()
	// Five segments starting at the same instant, then three more: pages
	// must split the equal starts without losing or repeating any.
	var want []int64
	for i := range 5 {
		want = append(want, insertRow(t, s, Segment{Camera: "cam", StartNS: base, EndNS: base + sec, Path: fmt.Sprintf("cam/same-%d.mp4", i)}))
	}
	for i := range 3 {
		st := base + int64(i+1)*sec
		want = append(want, insertRow(t, s, Segment{Camera: "cam", StartNS: st, EndNS: st + sec}))
	}
	for _, limit := range []int{1, 2, 3, 4, 8, 9} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			var got []int64
			cursor, pages := "", 0
			for {
				segs, next, err := s.ListSegments(ctx, "cam", base, base+10*sec, limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				if len(segs) > limit {
					t.Fatalf("page of %d > limit %d", len(segs), limit)
				}
				for _, seg := range segs {
					got = append(got, seg.ID)
				}
				pages++
				if next == "" {
					break
				}
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ids %v, want %v", got, want)
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Fatalf("%d pages, want %d", pages, wantPages)
			}
		})
	}
}

// cursorCases seed FuzzParseCursor.
var cursorCases = []string{"", "YzE6MTox", "YzE6LTE6MA", "YzI6MTox", "%%%", "YzE6OTIyMzM3MjAzNjg1NDc3NTgwNzox", "'; DROP TABLE segments; --"}

func FuzzParseCursor(f *testing.F) {
	for _, c := range cursorCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		start, id, err := parseCursor(c)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		// A cursor we accept must be one we could have made.
		s2, id2, err := parseCursor(makeCursor(start, id))
		if err != nil || s2 != start || id2 != id || id < 0 {
			t.Fatalf("round trip of (%d,%d): (%d,%d,%v)", start, id, s2, id2, err)
		}
	})
}

func TestTimeline(t *testing.T) { EachBackend(t, testTimeline) }

func testTimeline(t *testing.T, be Backend) {
	ctx := context.Background()
	base := t0.UnixNano()
	ms := sec / 1000
	type seg struct{ a, b int64 }
	tests := []struct {
		name       string
		segs       []seg
		start, end int64
		want       []Span
	}{
		{"abutting merged", []seg{{0, 10 * sec}, {10 * sec, 20 * sec}}, 0, 100 * sec, []Span{{0, 20 * sec}}},
		{"sub-ms gap merged", []seg{{0, 10 * sec}, {10*sec + ms/2, 20 * sec}}, 0, 100 * sec, []Span{{0, 20 * sec}}},
		{"exactly 1 ms gap merged", []seg{{0, 10 * sec}, {10*sec + ms, 20 * sec}}, 0, 100 * sec, []Span{{0, 20 * sec}}},
		{"2 ms gap kept", []seg{{0, 10 * sec}, {10*sec + 2*ms, 20 * sec}}, 0, 100 * sec, []Span{{0, 10 * sec}, {10*sec + 2*ms, 20 * sec}}},
		{"overlap merged", []seg{{0, 10 * sec}, {5 * sec, 8 * sec}, {9 * sec, 12 * sec}}, 0, 100 * sec, []Span{{0, 12 * sec}}},
		{"clipped to range", []seg{{0, 10 * sec}, {30 * sec, 40 * sec}}, 5 * sec, 35 * sec, []Span{{5 * sec, 10 * sec}, {30 * sec, 35 * sec}}},
		{"nothing", []seg{{0, 10 * sec}}, 10 * sec, 20 * sec, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, be)
			for _, sg := range tc.segs {
				insertRow(t, s, Segment{Camera: "cam", StartNS: base + sg.a, EndNS: base + sg.b})
			}
			got, err := s.Timeline(ctx, "cam", base+tc.start, base+tc.end)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].StartNS -= base
				got[i].EndNS -= base
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("spans %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSQLInjection (RELIABILITY S2): hostile strings are values, never SQL.
func TestSQLInjection(t *testing.T) { EachBackend(t, testSQLInjection) }

func testSQLInjection(t *testing.T, be Backend) {
	ctx := context.Background()
	s, _ := newStore(t, be)
	base := t0.UnixNano()
	insertRow(t, s, Segment{Camera: "cam", StartNS: base, EndNS: base + sec})
	for _, evil := range []string{
		"cam' OR '1'='1",
		"cam'; DROP TABLE segments; --",
		`cam" OR 1=1 --`,
		"cam\x00",
		"cam\xff",
		"../cam",
	} {
		t.Run(evil, func(t *testing.T) {
			if err := s.EnsureCamera(ctx, evil, "x"); !errors.Is(err, ErrInvalid) {
				t.Fatalf("EnsureCamera(%q) = %v, want ErrInvalid", evil, err)
			}
			if _, err := s.CreateSegment(ctx, Segment{Camera: evil, StartNS: base}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CreateSegment(%q) = %v, want ErrInvalid", evil, err)
			}
			segs, _, err := s.ListSegments(ctx, evil, 0, base+10*sec, 10, "")
			if err != nil || len(segs) != 0 {
				t.Fatalf("ListSegments(%q) = %d segments, %v", evil, len(segs), err)
			}
			if st, err := s.CameraStats(ctx, evil); err != nil || st.Segments != 0 {
				t.Fatalf("CameraStats(%q) = %+v, %v", evil, st, err)
			}
		})
	}
	segs, _, err := s.ListSegments(ctx, "cam", 0, base+10*sec, 10, "")
	if err != nil || len(segs) != 1 {
		t.Fatalf("table damaged: %d segments, %v", len(segs), err)
	}
}

// TestListQueryPlan: the overlap query is a range scan of the clustered key,
// not a table scan or a temporary sort (what keeps it fast at 10M rows).
func TestListQueryPlan(t *testing.T) {
	s, _ := newStore(t, Backends[0])
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN SELECT `+segmentColumns+` FROM segments
		WHERE `+overlapWhere+` AND (start_ns > ? OR id > ?) ORDER BY start_ns, id LIMIT ?`, "cam", StreamMain, 1, 2, 3, 4, 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		must(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	want := []string{"SEARCH segments USING PRIMARY KEY (camera_id=? AND start_ns>? AND start_ns<?)"}
	if !slices.Equal(plan, want) {
		t.Fatalf("plan %q, want %q", plan, want)
	}
}
