package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
	"github.com/prometheus/client_golang/prometheus"
)

const exportPath = "/api/cameras/front-door/export"

// The Range contract of issue 4: ranged GETs concatenated equal the full GET,
// HEAD's headers equal GET's, 416 for a range past the end.
func TestExportRangeContract(t *testing.T) {
	f := newFixture(t, nil)
	target := exportPath + rangeQ
	full := f.do(t, "GET", target)
	if full.Code != 200 {
		t.Fatalf("GET: %d %s", full.Code, full.Body)
	}
	if !bytes.Equal(full.Body.Bytes(), f.exp.data) {
		t.Fatalf("GET body differs from the clip (%d vs %d bytes)", full.Body.Len(), len(f.exp.data))
	}
	for k, want := range map[string]string{
		"Content-Type":   "video/mp4",
		"Content-Length": strconv.Itoa(len(f.exp.data)),
		"Accept-Ranges":  "bytes",
		"ETag":           `"clip-v1"`,
		"X-Nvr-Gaps":     "2026-03-29T00:30:00Z/2026-03-29T00:40:00Z",
	} {
		if got := full.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	head := f.do(t, "HEAD", target)
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", head.Code, head.Body.Len())
	}
	for _, k := range []string{"Content-Length", "Content-Type", "Content-Disposition", "ETag", "Accept-Ranges", "X-Nvr-Gaps"} {
		if head.Header().Get(k) != full.Header().Get(k) {
			t.Errorf("HEAD %s %q, GET %q", k, head.Header().Get(k), full.Header().Get(k))
		}
	}

	for _, chunk := range []int{1 << 10, 4093, 65536, len(f.exp.data)} {
		var joined []byte
		for off := 0; off < len(f.exp.data); off += chunk {
			last := min(off+chunk, len(f.exp.data)) - 1
			w := f.do(t, "GET", target, "Range", fmt.Sprintf("bytes=%d-%d", off, last))
			if w.Code != 206 {
				t.Fatalf("range %d-%d: status %d", off, last, w.Code)
			}
			if cr := w.Header().Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", off, last, len(f.exp.data)) {
				t.Fatalf("Content-Range %q", cr)
			}
			joined = append(joined, w.Body.Bytes()...)
		}
		if !bytes.Equal(joined, full.Body.Bytes()) {
			t.Fatalf("chunk %d: concatenated ranges differ from the full GET", chunk)
		}
	}
	// A suffix range gives the tail.
	w := f.do(t, "GET", target, "Range", "bytes=-100")
	if w.Code != 206 || !bytes.Equal(w.Body.Bytes(), f.exp.data[len(f.exp.data)-100:]) {
		t.Fatalf("suffix range: %d, %d bytes", w.Code, w.Body.Len())
	}
	// 416 names the size (RFC 9110 §15.5.17) and has the JSON body.
	w = f.do(t, "GET", target, "Range", fmt.Sprintf("bytes=%d-", len(f.exp.data)))
	if w.Code != 416 || w.Header().Get("Content-Range") != fmt.Sprintf("bytes */%d", len(f.exp.data)) {
		t.Fatalf("416: %d Content-Range %q", w.Code, w.Header().Get("Content-Range"))
	}
	errorOf(t, w)

	if got, want := f.exp.closed.Load(), f.exp.opened.Load(); got != want || want == 0 {
		t.Fatalf("clips closed %d of %d", got, want)
	}
}

func TestExportConditionalRequests(t *testing.T) {
	f := newFixture(t, nil)
	target := exportPath + rangeQ
	for _, tc := range []struct {
		name    string
		hdr     []string
		status  int
		bodyLen int
	}{
		{"If-None-Match same", []string{"If-None-Match", `"clip-v1"`}, 304, 0},
		{"If-None-Match other", []string{"If-None-Match", `"clip-v0"`}, 200, len(f.exp.data)},
		{"If-Range same", []string{"Range", "bytes=0-9", "If-Range", `"clip-v1"`}, 206, 10},
		{"If-Range stale sends everything", []string{"Range", "bytes=0-9", "If-Range", `"clip-v0"`}, 200, len(f.exp.data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, "GET", target, tc.hdr...)
			if w.Code != tc.status || w.Body.Len() != tc.bodyLen {
				t.Fatalf("status %d with %d bytes, want %d with %d", w.Code, w.Body.Len(), tc.status, tc.bodyLen)
			}
		})
	}
}

func TestExportFileNameUsesZoneWithOffset(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tc := range []struct {
		name       string
		loc        *time.Location
		start, end string
		want       string
	}{
		{"across the spring DST change", berlin, "2026-03-29T00:59:00Z", "2026-03-29T01:01:00Z",
			`attachment; filename="front-door_2026-03-29T01-59-00+0100_2026-03-29T03-01-00+0200.mp4"`},
		{"UTC by default", nil, "2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z",
			`attachment; filename="front-door_2026-03-29T00-00-00+0000_2026-03-29T00-30-00+0000.mp4"`},
		{"fractional seconds kept", berlin, "2026-03-29T00:00:00.25+00:00", "2026-03-29T00:00:01.5Z",
			`attachment; filename="front-door_2026-03-29T01-00-00.250+0100_2026-03-29T01-00-01.500+0100.mp4"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.Location = tc.loc })
			w := f.do(t, "HEAD", exportPath+"?start="+url.QueryEscape(tc.start)+"&end="+url.QueryEscape(tc.end))
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			if got := w.Header().Get("Content-Disposition"); got != tc.want {
				t.Fatalf("Content-Disposition\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSafeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"front-door": "front-door", `a"b`: "a_b", "x;y\r\nz": "x_y__z", "tür": "t_r", "a/../b": "a_.._b",
	} {
		if got := safeFileName(in); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGapsHeaderIsBounded(t *testing.T) {
	var gaps []footage.Span
	for i := range MaxGapsInHeader + 10 {
		s := t0.Add(time.Duration(i) * time.Hour).UnixNano()
		gaps = append(gaps, footage.Span{StartNS: s, EndNS: s + int64(time.Minute)})
	}
	hd := http.Header{}
	setGapsHeader(hd, gaps)
	if n := strings.Count(hd.Get("X-Nvr-Gaps"), ",") + 1; n != MaxGapsInHeader {
		t.Fatalf("%d gaps in the header, want %d", n, MaxGapsInHeader)
	}
	if hd.Get("X-Nvr-Gaps-Total") != strconv.Itoa(MaxGapsInHeader+10) {
		t.Fatalf("X-Nvr-Gaps-Total %q", hd.Get("X-Nvr-Gaps-Total"))
	}
	if len(hd.Get("X-Nvr-Gaps")) > 6<<10 {
		t.Fatalf("gaps header is %d bytes", len(hd.Get("X-Nvr-Gaps")))
	}
}

func TestNormalizeETag(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		`"abc"`:         `"abc"`,
		`W/"abc"`:       `W/"abc"`,
		"abc":           `"abc"`,
		"sha256-0f0f":   `"sha256-0f0f"`,
		"has space":     "", // replaced by a digest, checked below
		"quote\"inside": "",
	} {
		got := normalizeETag(in)
		if in == "has space" || in == "quote\"inside" {
			// Replaced by a digest: a valid quoted tag of 32 hex digits.
			if len(got) != 34 || got[0] != '"' || got[33] != '"' || strings.ContainsAny(got[1:33], "\" ") {
				t.Errorf("normalizeETag(%q) = %q, want a quoted digest", in, got)
			}
			continue
		}
		if got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}

// A client that goes away cancels the export through the request context.
func TestExportClientDisconnectCancels(t *testing.T) {
	f := newFixture(t, nil)
	f.exp.block = true
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, "GET", "http://nvr.test"+exportPath+rangeQ, nil)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.h.ServeHTTP(w, r)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("export did not stop after the client went away")
	}
	select {
	case <-f.exp.canceled:
	default:
		t.Fatal("the exporter never saw the cancellation")
	}
}

func TestExportErrorsAreNotShown(t *testing.T) {
	f := newFixture(t, nil)
	failing := exporterFunc(func(ctx context.Context, camera string, s, e int64, ts bool) (Clip, error) {
		return nil, fmt.Errorf("open /data/recordings/front-door/x.mp4 for rtsp://admin:hunter2@cam: %w", io.ErrUnexpectedEOF)
	})
	var logs bytes.Buffer
	h, err := New(Options{Store: f.store, Cameras: fakeCameras{{ID: "front-door"}}, Exporter: failing, Logger: newTextLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", exportPath+rangeQ, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	if msg := errorOf(t, w); msg != "internal error" {
		t.Fatalf("error %q shows internals", msg)
	}
	if !strings.Contains(logs.String(), "unexpected EOF") {
		t.Fatalf("the failure was not logged: %q", logs.String())
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("S3: the log shows a camera password: %q", logs.String())
	}
}

type exporterFunc func(ctx context.Context, camera string, startNS, endNS int64, timestamps bool) (Clip, error)

// ExportStream exports the main stream; the tests with an exporterFunc
// ask for nothing else.
func (f exporterFunc) ExportStream(ctx context.Context, camera, stream string, startNS, endNS int64, timestamps bool) (Clip, error) {
	if stream != storage.StreamMain {
		return nil, fmt.Errorf("exporterFunc: stream %q", stream)
	}
	return f(ctx, camera, startNS, endNS, timestamps)
}

func TestExportPassesRangeAndFlag(t *testing.T) {
	var got [3]int64
	var gotTS bool
	f := newFixture(t, nil)
	h, err := New(Options{Store: f.store, Cameras: fakeCameras{{ID: "front-door"}},
		Exporter: exporterFunc(func(ctx context.Context, camera string, s, e int64, ts bool) (Clip, error) {
			got, gotTS = [3]int64{s, e, 1}, ts
			return nil, footage.ErrNoFootage
		})})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", exportPath+"?start=2026-03-29T02:00:00.123456789%2B02:00&end=2026-03-29T00:30:00Z&timestamps=true", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	want := [3]int64{time.Date(2026, 3, 29, 0, 0, 0, 123456789, time.UTC).UnixNano(), t0.Add(30 * time.Minute).UnixNano(), 1}
	if w.Code != 404 || got != want || !gotTS {
		t.Fatalf("status %d, exporter got %v ts=%v; want %v ts=true", w.Code, got, gotTS, want)
	}
}

func TestSegmentFile(t *testing.T) {
	f := newFixture(t, nil)
	seg := f.store.segs[0]
	want, err := io.ReadAll(mustOpen(t, f.store, seg))
	if err != nil {
		t.Fatal(err)
	}
	target := "/api/segments/" + strconv.FormatInt(seg.ID, 10)
	w := f.do(t, "GET", target)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), want) || w.Header().Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET: %d, %d bytes, %q", w.Code, w.Body.Len(), w.Header().Get("Content-Type"))
	}
	etag := w.Header().Get("ETag")
	if w := f.do(t, "GET", target, "If-None-Match", etag); w.Code != 304 {
		t.Fatalf("If-None-Match: %d", w.Code)
	}
	w = f.do(t, "GET", target, "Range", "bytes=10-19")
	if w.Code != 206 || !bytes.Equal(w.Body.Bytes(), want[10:20]) {
		t.Fatalf("range: %d %q", w.Code, w.Body)
	}
	if w := f.do(t, "GET", target, "Range", "bytes=5000-"); w.Code != 416 {
		t.Fatalf("416: %d", w.Code)
	} else {
		errorOf(t, w)
	}
	// Retention deleted the file after the row was read: 404, not 500.
	removeFile(f.store, seg.ID)
	if w := f.do(t, "GET", target); w.Code != 404 {
		t.Fatalf("deleted file: %d", w.Code)
	}
}

func TestExportMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(o *Options) { o.Registerer = reg })
	f.do(t, "GET", exportPath+rangeQ)
	f.do(t, "GET", exportPath+rangeQ, "Range", "bytes=0-99")
	f.do(t, "GET", exportPath+"?start=2025-01-01T00:00:00Z&end=2025-01-01T01:00:00Z")
	for _, tc := range []struct {
		name, outcome string
		want          float64
	}{
		{"nvr_export_requests_total", "ok", 2},
		{"nvr_export_requests_total", "no_footage", 1},
		{"nvr_export_bytes_total", "", float64(len(f.exp.data) + 100)},
	} {
		if got := counterValue(t, reg, tc.name, tc.outcome); got != tc.want {
			t.Errorf("%s{outcome=%q} = %v, want %v", tc.name, tc.outcome, got, tc.want)
		}
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := outcome == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{outcome=%q} not found", name, outcome)
	return 0
}

// TestExportAudioHeaders: the export says whether it has sound and how
// many segments' audio was left out (a codec change inside the range).
func TestExportAudioHeaders(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct {
		audio             bool
		skipped           int
		want, wantSkipped string
	}{{false, 0, "none", ""}, {true, 0, "yes", ""}, {true, 2, "yes", "2"}} {
		f.exp.audio, f.exp.skipped = c.audio, c.skipped
		for _, m := range []string{"GET", "HEAD"} {
			w := f.do(t, m, exportPath+rangeQ)
			if w.Code != 200 || w.Header().Get("X-Nvr-Audio") != c.want || w.Header().Get("X-Nvr-Audio-Skipped") != c.wantSkipped {
				t.Errorf("%s audio=%v skipped=%d: %d, X-Nvr-Audio %q, X-Nvr-Audio-Skipped %q", m, c.audio, c.skipped, w.Code,
					w.Header().Get("X-Nvr-Audio"), w.Header().Get("X-Nvr-Audio-Skipped"))
			}
		}
	}
}
