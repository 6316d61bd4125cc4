package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// writeStreamSegment records clip's frames [0, n) as one complete segment
// of camera's stream starting at start, through the real index and MP4
// writer, as the recorder does.
func writeStreamSegment(t *testing.T, st *storage.Store, camera, stream string, clip *testcam.Clip, start time.Time, n int) storage.Segment {
	t.Helper()
	ctx := context.Background()
	seg := storage.Segment{Camera: camera, Stream: stream, StartNS: start.UnixNano(), Codecs: "avc1.4d401f"}
	f, err := st.CreateSegment(ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	defer f.Abandon()
	if seg, err = st.Segment(ctx, id); err != nil {
		t.Fatal(err)
	}
	w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: clip.SPS, PPS: clip.PPS}, fmp4.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := clip.Frames[0].DTS
	for _, fr := range clip.Frames[:n] {
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS - base, PTS: fr.PTS - base, Keyframe: fr.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	end := int64(n) * 3600 // 25 fps at 90 kHz
	if err := w.Close(end); err != nil {
		t.Fatal(err)
	}
	seg.EndNS = seg.StartNS + end*int64(time.Second)/90000
	seg.Frames = int64(n)
	if err := f.Finish(ctx, seg); err != nil {
		t.Fatal(err)
	}
	return seg
}

// TestStreamSub runs the footage endpoints over the real index and
// exporter for a camera recording both streams: the main stream (1280x720)
// from t0 for four seconds, the sub stream (320x240) from t0+2s for two
// seconds. Without stream the endpoints mean the main stream; stream=sub
// selects the sub stream's rows, spans, export and keyframes; a preview
// asked of the sub stream falls back to the main stream where the sub has
// no footage.
func TestStreamSub(t *testing.T) {
	ctx := context.Background()
	st, err := storage.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureCamera(ctx, "gate", "Gate"); err != nil {
		t.Fatal(err)
	}
	mainClip, err := testcam.LoadClip(testcam.ClipMain720)
	if err != nil {
		t.Fatal(err)
	}
	subClip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	mainSeg := writeStreamSegment(t, st, "gate", storage.StreamMain, mainClip, t0, 100)
	subSeg := writeStreamSegment(t, st, "gate", storage.StreamSub, subClip, t0.Add(2*time.Second), 50)
	if mainSeg.Path == subSeg.Path || !strings.HasPrefix(subSeg.Path, "gate/sub/") {
		t.Fatalf("paths %q and %q", mainSeg.Path, subSeg.Path)
	}
	h, err := New(Options{Store: st, Exporter: footage.New(st, nil),
		Cameras: fakeCameras{{ID: "gate", State: "recording", Sub: &SubStatus{State: "recording", Recorded: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(target string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		return w
	}
	at := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339Nano)) }
	rng := "?start=" + at(-time.Minute) + "&end=" + at(time.Minute)

	var cam cameraJSON
	if w := get("/api/cameras/gate"); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &cam) != nil ||
		cam.SubStream == nil || !cam.SubStream.Recorded || cam.SubStream.State != "recording" {
		t.Fatalf("camera: %d %s", w.Code, w.Body)
	}

	segsOf := func(q string) segmentsPage {
		t.Helper()
		w := get("/api/cameras/gate/segments" + rng + q)
		var p segmentsPage
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &p) != nil {
			t.Fatalf("segments%s: %d %s", q, w.Code, w.Body)
		}
		return p
	}
	for _, tc := range []struct {
		q    string
		want storage.Segment
	}{{"", mainSeg}, {"&stream=main", mainSeg}, {"&stream=sub", subSeg}} {
		p := segsOf(tc.q)
		if len(p.Segments) != 1 || p.Segments[0].ID != tc.want.ID || p.Segments[0].Start != formatNS(tc.want.StartNS) {
			t.Fatalf("segments%s: %+v, want segment %d only", tc.q, p.Segments, tc.want.ID)
		}
	}

	timeline := func(q string) string {
		t.Helper()
		w := get("/api/cameras/gate/timeline" + q)
		if w.Code != 200 {
			t.Fatalf("timeline%s: %d %s", q, w.Code, w.Body)
		}
		return strings.TrimSpace(w.Body.String())
	}
	if got, want := timeline(rng), `{"spans":[{"start":"2026-03-29T00:00:00Z","end":"2026-03-29T00:00:04Z"}]}`; got != want {
		t.Fatalf("main timeline %s, want %s", got, want)
	}
	if got, want := timeline(rng+"&stream=sub"), `{"spans":[{"start":"2026-03-29T00:00:02Z","end":"2026-03-29T00:00:04Z"}]}`; got != want {
		t.Fatalf("sub timeline %s, want %s", got, want)
	}
	// The keyframe that shows a moment is the asked stream's: the sub
	// stream's first frame (its segment's start) for a moment just after
	// it, which the main stream has no keyframe at.
	var tl struct{ Keyframe string }
	if err := json.Unmarshal([]byte(timeline("?start="+at(2100*time.Millisecond)+"&end="+at(3*time.Second)+"&keyframe=1&stream=sub")), &tl); err != nil || tl.Keyframe != formatNS(subSeg.StartNS) {
		t.Fatalf("sub keyframe %q (%v), want %s", tl.Keyframe, err, formatNS(subSeg.StartNS))
	}

	// Exports: each stream's own pictures, named apart.
	width := func(what string, body []byte) int {
		t.Helper()
		info, err := fmp4.Scan(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return info.Params.Width
	}
	exp := "/api/cameras/gate/export?start=" + at(2*time.Second) + "&end=" + at(3*time.Second)
	wMain, wSub := get(exp), get(exp+"&stream=sub")
	if wMain.Code != 200 || wSub.Code != 200 {
		t.Fatalf("exports: %d %s, %d %s", wMain.Code, wMain.Body, wSub.Code, wSub.Body)
	}
	if w := width("main export", wMain.Body.Bytes()); w != 1280 {
		t.Fatalf("main export width %d", w)
	}
	if w := width("sub export", wSub.Body.Bytes()); w != 320 {
		t.Fatalf("sub export width %d", w)
	}
	if d := wSub.Header().Get("Content-Disposition"); !strings.Contains(d, `"gate.sub_`) || d == wMain.Header().Get("Content-Disposition") {
		t.Fatalf("sub export name %q (main %q)", d, wMain.Header().Get("Content-Disposition"))
	}
	if w := get("/api/cameras/gate/export?start=" + at(0) + "&end=" + at(time.Second) + "&stream=sub"); w.Code != 404 {
		t.Fatalf("sub export where the sub has no footage: %d %s", w.Code, w.Body)
	}

	// Previews: the sub stream's keyframe where it has footage, else the
	// main stream's.
	for _, tc := range []struct {
		q, stream string
		width     int
	}{
		{"t=" + at(2500*time.Millisecond) + "&stream=sub", "sub", 320},
		{"t=" + at(500*time.Millisecond) + "&stream=sub", "main", 1280},
		{"t=" + at(2500*time.Millisecond), "main", 1280},
	} {
		w := get("/api/cameras/gate/preview?" + tc.q)
		if w.Code != 200 || w.Header().Get("X-Nvr-Stream") != tc.stream {
			t.Fatalf("preview %s: %d, stream %q, want %q; %s", tc.q, w.Code, w.Header().Get("X-Nvr-Stream"), tc.stream, w.Body)
		}
		if got := width("preview "+tc.q, w.Body.Bytes()); got != tc.width {
			t.Fatalf("preview %s: width %d, want %d", tc.q, got, tc.width)
		}
		t.Logf("preview from the %s stream (%d wide): %d bytes", tc.stream, tc.width, w.Body.Len())
	}
	if w := get("/api/cameras/gate/preview?t=" + at(time.Hour) + "&stream=sub"); w.Code != 404 {
		t.Fatalf("preview with no footage in either stream: %d", w.Code)
	}

	// A cursor is sealed to its stream too, and an unknown stream is a 400.
	for i := range 3 {
		writeStreamSegment(t, st, "gate", storage.StreamMain, mainClip, t0.Add(time.Duration(10+i)*time.Second), 25)
	}
	p := segsOf("&limit=1")
	if p.NextCursor == nil {
		t.Fatal("no next cursor")
	}
	if w := get("/api/cameras/gate/segments" + rng + "&limit=1&stream=sub&cursor=" + url.QueryEscape(*p.NextCursor)); w.Code != 400 {
		t.Fatalf("the main stream's cursor on the sub stream: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"segments" + rng, "timeline" + rng, "export" + rng, "preview?t=" + at(0)} {
		if w := get("/api/cameras/gate/" + path + "&stream=Sub"); w.Code != 400 || !strings.Contains(errorOf(t, w), "stream must be main or sub") {
			t.Fatalf("%s with stream=Sub: %d %s", path, w.Code, w.Body)
		}
	}
}
