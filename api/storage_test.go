package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// TestWithRealIndex runs the listing, timeline, camera and segment-file
// endpoints over the real SQLite index: its cursors page through every
// segment exactly once, and files come from its rows.
func TestWithRealIndex(t *testing.T) {
	ctx := context.Background()
	st, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureCamera(ctx, "front-door", "Front door"); err != nil {
		t.Fatal(err)
	}
	const n = 23
	contents := map[int64][]byte{}
	var ids []int64
	for i := range n {
		start := t0.Add(time.Duration(i) * time.Minute)
		if i >= 12 {
			start = start.Add(5 * time.Minute) // a reconnect gap
		}
		seg := storage.Segment{Camera: "front-door", StartNS: start.UnixNano(), Codecs: "avc1.4d401f", Width: 1280, Height: 720}
		f, err := st.CreateSegment(ctx, seg)
		if err != nil {
			t.Fatal(err)
		}
		id := f.ID()
		data := bytes.Repeat([]byte(fmt.Sprintf("segment %03d ", i)), 50)
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		seg.ID, seg.EndNS, seg.Frames, seg.Keyframes, seg.Bytes = id, start.Add(time.Minute).UnixNano(), 1500, 30, int64(len(data))
		if err := f.Finish(ctx, seg); err != nil {
			t.Fatal(err)
		}
		contents[id] = data
		ids = append(ids, id)
	}
	h, err := New(Options{Store: st, Cameras: fakeCameras{{ID: "front-door", State: "recording"}}, Exporter: &fakeExporter{store: &fakeStore{}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		return w
	}

	q := "?start=" + url.QueryEscape(ts(-time.Hour)) + "&end=" + url.QueryEscape(ts(2*time.Hour))
	var got []int64
	cursor := ""
	for page := 0; ; page++ {
		if page > n {
			t.Fatal("pagination does not end")
		}
		target := "/api/cameras/front-door/segments" + q + "&limit=4"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		w := get(target)
		if w.Code != 200 {
			t.Fatalf("page %d: %d %s", page, w.Code, w.Body)
		}
		var p segmentsPage
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Segments {
			got = append(got, s.ID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("pages gave %v\nwant %v", got, ids)
	}

	w := get("/api/cameras/front-door/timeline" + q)
	want := `{"spans":[{"start":"2026-03-29T00:00:00Z","end":"2026-03-29T00:12:00Z"},{"start":"2026-03-29T00:17:00Z","end":"2026-03-29T00:28:00Z"}]}` + "\n"
	if w.Code != 200 || w.Body.String() != want {
		t.Fatalf("timeline: %d\n got %s\nwant %s", w.Code, w.Body, want)
	}

	w = get("/api/cameras/front-door")
	var cam cameraJSON
	if err := json.Unmarshal(w.Body.Bytes(), &cam); err != nil || cam.Segments != n || cam.First == nil || *cam.First != ts(0) {
		t.Fatalf("camera: %d %s", w.Code, w.Body)
	}

	for _, id := range []int64{ids[0], ids[n-1]} {
		w := get("/api/segments/" + strconv.FormatInt(id, 10))
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), contents[id]) {
			t.Fatalf("segment %d: %d, %d bytes", id, w.Code, w.Body.Len())
		}
	}
	if w := get("/api/segments/" + strconv.FormatInt(ids[n-1]+1000, 10)); w.Code != 404 {
		t.Fatalf("unknown segment: %d", w.Code)
	}
}
