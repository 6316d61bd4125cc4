package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
)

type errorCase struct {
	name   string
	method string
	target string
	hdr    []string
	status int
	// msg is a substring the error message must contain.
	msg string
}

var rangeQ = "?start=" + url.QueryEscape(ts(0)) + "&end=" + url.QueryEscape(ts(time.Hour))

// errorCases is the error table of issue 4 plus hostile input (S1, S2).
// They also seed FuzzHandler.
var errorCases = []errorCase{
	{"missing start", "GET", "/api/cameras/front-door/segments?end=" + ts(time.Hour), nil, 400, "missing start"},
	{"missing end", "GET", "/api/cameras/front-door/timeline?start=" + ts(0), nil, 400, "missing end"},
	{"garbage start", "GET", "/api/cameras/front-door/segments?start=yesterday&end=" + ts(time.Hour), nil, 400, "RFC 3339"},
	{"date only", "GET", "/api/cameras/front-door/segments?start=2026-03-29&end=" + ts(time.Hour), nil, 400, "RFC 3339"},
	{"unix seconds", "GET", "/api/cameras/front-door/export?start=1774742400&end=1774746000", nil, 400, "RFC 3339"},
	{"huge year", "GET", "/api/cameras/front-door/segments?start=9999-12-31T23:59:59Z&end=9999-12-31T23:59:59.5Z", nil, 400, "out of range"},
	{"ancient year", "GET", "/api/cameras/front-door/segments?start=0001-01-01T00:00:00Z&end=" + ts(0), nil, 400, "out of range"},
	{"end equals start", "GET", "/api/cameras/front-door/export?start=" + ts(0) + "&end=" + ts(0), nil, 400, "end must be after start"},
	{"end before start", "GET", "/api/cameras/front-door/segments?start=" + ts(time.Hour) + "&end=" + ts(0), nil, 400, "end must be after start"},
	{"export too long", "GET", "/api/cameras/front-door/export?start=" + ts(0) + "&end=" + ts(24*time.Hour+time.Nanosecond), nil, 400, "longer than 24h"},
	{"timeline too long", "GET", "/api/cameras/front-door/timeline?start=2020-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", nil, 400, "longer than"},
	{"limit garbage", "GET", "/api/cameras/front-door/segments" + rangeQ + "&limit=ten", nil, 400, "limit"},
	{"limit zero", "GET", "/api/cameras/front-door/segments" + rangeQ + "&limit=0", nil, 400, "limit"},
	{"limit negative", "GET", "/api/cameras/front-door/segments" + rangeQ + "&limit=-5", nil, 400, "limit"},
	{"limit float", "GET", "/api/cameras/front-door/segments" + rangeQ + "&limit=1e3", nil, 400, "limit"},
	{"bad cursor", "GET", "/api/cameras/front-door/segments" + rangeQ + "&cursor=after-5", nil, 400, "cursor"},
	{"forged cursor", "GET", "/api/cameras/front-door/segments" + rangeQ + "&cursor=YWZ0ZXItNQ.AAAAAAAAAAAAAAAAAAAAAA", nil, 400, "cursor"},
	{"repeated start", "GET", "/api/cameras/front-door/segments" + rangeQ + "&start=" + ts(0), nil, 400, "more than once"},
	{"bad timestamps flag", "GET", "/api/cameras/front-door/export" + rangeQ + "&timestamps=yes", nil, 400, "timestamps"},
	{"bad query escape", "GET", "/api/cameras/front-door/segments?start=%zz", nil, 400, "malformed"},
	{"very long query", "GET", "/api/cameras/front-door/segments" + rangeQ + "&x=" + strings.Repeat("a", MaxQueryLen), nil, 414, "too long"},
	{"long parameter", "GET", "/api/cameras/front-door/segments" + rangeQ + "&junk=" + strings.Repeat("9", 100), nil, 400, "too long"},
	{"unknown camera", "GET", "/api/cameras/garage", nil, 404, "unknown camera"},
	{"unknown camera export", "GET", "/api/cameras/garage/export" + rangeQ, nil, 404, "unknown camera"},
	{"unknown segment", "GET", "/api/segments/99999", nil, 404, "unknown segment"},
	{"no footage", "GET", "/api/cameras/front-door/export?start=2025-01-01T00:00:00Z&end=2025-01-01T01:00:00Z", nil, 404, "no footage"},
	{"no footage never recorded", "GET", "/api/cameras/never-recorded/export" + rangeQ, nil, 404, "no footage"},
	{"unknown endpoint", "GET", "/api/nothing", nil, 404, "no such endpoint"},
	{"unknown page", "GET", "/index.php", nil, 404, "no such endpoint"},
	{"segment id text", "GET", "/api/segments/abc", nil, 400, "positive integer"},
	{"segment id zero", "GET", "/api/segments/0", nil, 400, "positive integer"},
	{"segment id negative", "GET", "/api/segments/-1", nil, 400, "positive integer"},
	{"segment id huge", "GET", "/api/segments/99999999999999999999999", nil, 400, "positive integer"},
	{"segment id overflow", "GET", "/api/segments/9223372036854775808", nil, 400, "positive integer"},
	{"segment id hex", "GET", "/api/segments/0x10", nil, 400, "positive integer"},
	{"sqli segment id", "GET", "/api/segments/1%3B%20DROP%20TABLE%20segments", nil, 400, "positive integer"},
	{"sqli segment or", "GET", "/api/segments/1%20OR%201%3D1", nil, 400, "positive integer"},
	{"sqli camera id", "GET", "/api/cameras/x%27%3B%20DROP%20TABLE%20segments%3B--/segments" + rangeQ, nil, 404, "unknown camera"},
	{"sqli camera or", "GET", "/api/cameras/%27%20OR%20%271%27%3D%271", nil, 404, "unknown camera"},
	{"sqli in start", "GET", "/api/cameras/front-door/segments?start=%27%3B%20DROP%20TABLE%20segments%3B--&end=" + ts(time.Hour), nil, 400, "RFC 3339"},
	{"sqli in limit", "GET", "/api/cameras/front-door/segments" + rangeQ + "&limit=1%20OR%201%3D1", nil, 400, "limit"},
	{"sqli sort", "GET", "/api/cameras/front-door/segments" + rangeQ + "&sort=id%3BDROP", nil, 0, ""}, // unknown parameters are ignored: 200
	{"traversal dotdot", "GET", "/api/cameras/../segments/1", nil, 400, "dot segment"},
	{"traversal in id", "GET", "/api/cameras/..", nil, 400, "dot segment"},
	{"traversal encoded", "GET", "/api/cameras/%2e%2e/export" + rangeQ, nil, 400, "dot segment"},
	{"traversal encoded upper", "GET", "/api/segments/%2E%2E%2Fetc%2Fpasswd", nil, 400, "positive integer"},
	{"traversal encoded slash", "GET", "/api/cameras/..%2f..%2fetc/segments" + rangeQ, nil, 400, "invalid camera id"},
	{"traversal single dot", "GET", "/api/cameras/./front-door", nil, 400, "dot segment"},
	{"absolute path id", "GET", "/api/cameras/%2fetc%2fpasswd", nil, 400, "invalid camera id"},
	{"backslash", "GET", "/api/cameras/..%5c..%5cwindows", nil, 400, "invalid character"},
	{"nul in path", "GET", "/api/cameras/front-door%00.mp4", nil, 400, "invalid character"},
	{"nul in time", "GET", "/api/cameras/front-door/segments?start=2026-03-29T00:00:00Z%00&end=" + ts(time.Hour), nil, 400, "RFC 3339"},
	{"double slash", "GET", "/api//cameras", nil, 400, "empty path segment"},
	{"long camera id", "GET", "/api/cameras/" + strings.Repeat("c", MaxIDLen+1), nil, 400, "too long"},
	{"invalid utf8 id", "GET", "/api/cameras/%ff%fe", nil, 400, "invalid camera id"},
	{"post", "POST", "/api/cameras", nil, 405, "method not allowed"},
	{"put export", "PUT", "/api/cameras/front-door/export" + rangeQ, nil, 405, "method not allowed"},
	{"delete segment", "DELETE", "/api/segments/1", nil, 405, "method not allowed"},
	{"options", "OPTIONS", "/api/cameras", nil, 405, "method not allowed"},
	{"patch healthz", "PATCH", "/healthz", nil, 405, "method not allowed"},
	{"cross-site get", "GET", "/api/cameras", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
	{"cross-site export", "GET", "/api/cameras/front-door/export" + rangeQ, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
	{"cross-site post", "POST", "/api/cameras", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
	{"foreign origin", "GET", "/api/cameras", []string{"Origin", "https://attacker.example"}, 403, "cross-site"},
	{"null origin", "GET", "/api/cameras", []string{"Origin", "null"}, 403, "cross-site"},
	{"same origin", "GET", "/api/cameras", []string{"Origin", "http://nvr.test", "Sec-Fetch-Site", "same-origin"}, 0, ""},
	// Another port on localhost is the same site: beyond a plain read (a
	// link followed), it is refused like cross-site.
	{"same-site fetch", "GET", "/api/cameras", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "no-cors"}, 403, "cross-site"},
	{"same-site video", "GET", "/api/cameras/front-door/export" + rangeQ, []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "video"}, 403, "cross-site"},
	{"same-site navigation to export", "GET", "/api/cameras/front-door/export" + rangeQ, []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "navigate"}, 403, "cross-site"},
	{"same-site metrics cors", "GET", "/metrics", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "cors"}, 403, "cross-site"},
	{"same-site navigation", "GET", "/api/cameras", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "navigate"}, 0, ""},
	{"range unsatisfiable", "GET", "/api/cameras/front-door/export" + rangeQ, []string{"Range", "bytes=100003-"}, 416, "range not satisfiable"},
	{"range garbage", "GET", "/api/segments/1", []string{"Range", "bytes=zz-"}, 416, "range not satisfiable"},
}

func TestErrorTable(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			w := f.do(t, tc.method, tc.target, tc.hdr...)
			if tc.status == 0 {
				if w.Code != http.StatusOK {
					t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
				}
				return
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if msg := errorOf(t, w); !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %q does not mention %q", msg, tc.msg)
			}
			if tc.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Fatalf("405 without Allow: GET, HEAD (got %q)", w.Header().Get("Allow"))
			}
			if w.Header().Get("Content-Disposition") != "" {
				t.Fatalf("error response carries Content-Disposition %q", w.Header().Get("Content-Disposition"))
			}
			// S1/S2: only configured camera ids ever reach the store.
			for cam := range f.store.seenCams {
				if cam != "front-door" && cam != "back-yard" && cam != "never-recorded" {
					t.Fatalf("store received camera id %q from the client", cam)
				}
			}
			// Validation happens before any work: a 400 never starts an export.
			if tc.status == 400 && f.exp.calls.Load() != 0 {
				t.Fatalf("a bad request reached the exporter")
			}
		})
	}
}

func TestCamerasJSON(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(t, "GET", "/api/cameras")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "admin:") {
		t.Fatalf("S3: camera credentials leaked into the API: %s", w.Body)
	}
	var got []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"audio", "audio_note", "bytes", "first", "id", "last", "last_error", "name", "next_window", "recording_since", "segments", "state", "sub_stream"}
	for _, c := range got {
		var keys []string
		for k := range c {
			keys = append(keys, k)
		}
		sortStrings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Fatalf("camera keys %v, want %v", keys, wantKeys)
		}
	}
	want := []map[string]any{
		{"id": "front-door", "name": "Front door", "state": "recording", "last_error": "",
			"recording_since": "2026-03-29T00:00:00Z", "next_window": nil, "segments": 60.0, "bytes": 60000.0,
			"first": "2026-03-29T00:00:00Z", "last": "2026-03-29T01:10:00Z", "audio": "mp4a.40.2", "audio_note": "", "sub_stream": nil},
		{"id": "back-yard", "name": "Back yard", "state": "idle", "last_error": "",
			"recording_since": nil, "next_window": "2026-03-29T22:00:00Z", "segments": 3.0, "bytes": 3000.0,
			"first": "2026-03-29T00:00:00Z", "last": "2026-03-29T00:03:00Z", "audio": "", "audio_note": "", "sub_stream": nil},
		{"id": "never-recorded", "name": "Never", "state": "retrying",
			"last_error":      "dial rtsp://***@192.0.2.7:554/Streaming/Channels/101?password=*** connection refused", // the redaction takes everything up to a space
			"recording_since": nil, "next_window": nil, "segments": 0.0, "bytes": 0.0, "first": nil, "last": nil, "audio": "", "audio_note": "", "sub_stream": nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cameras\n got %v\nwant %v", got, want)
	}

	w = f.do(t, "GET", "/api/cameras/back-yard")
	var one map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &one); err != nil || w.Code != 200 {
		t.Fatalf("status %d body %s: %v", w.Code, w.Body, err)
	}
	if !reflect.DeepEqual(one, want[1]) {
		t.Fatalf("camera\n got %v\nwant %v", one, want[1])
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

type segmentsPage struct {
	Segments []struct {
		ID     int64    `json:"id"`
		Start  string   `json:"start"`
		End    *string  `json:"end"`
		Bytes  int64    `json:"bytes"`
		Frames int64    `json:"frames"`
		Codec  string   `json:"codec"`
		Codecs []string `json:"codecs"`
		Width  int      `json:"width"`
		Height int      `json:"height"`
		State  string   `json:"state"`
	} `json:"segments"`
	NextCursor *string `json:"next_cursor"`
}

func TestPaginationReturnsEverySegmentOnce(t *testing.T) {
	f := newFixture(t, nil)
	// The range cuts the first and last segments: overlap counts.
	q := "?start=" + url.QueryEscape(ts(30*time.Second)) + "&end=" + url.QueryEscape(ts(69*time.Minute+30*time.Second))
	seen := map[int64]int{}
	var order []int64
	cursor := ""
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("pagination does not end")
		}
		target := "/api/cameras/front-door/segments" + q + "&limit=7"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		w := f.do(t, "GET", target)
		if w.Code != 200 {
			t.Fatalf("page %d: status %d: %s", page, w.Code, w.Body)
		}
		var p segmentsPage
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Segments) > 7 {
			t.Fatalf("page %d has %d segments, limit 7", page, len(p.Segments))
		}
		for _, s := range p.Segments {
			seen[s.ID]++
			order = append(order, s.ID)
			if s.End == nil || s.Codec != "avc1.4d401f" || len(s.Codecs) != 1 || s.Codecs[0] != "avc1.4d401f" || s.Width != 1280 || s.State != "complete" || s.Bytes != 1000 {
				t.Fatalf("segment %+v lost fields", s)
			}
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	var want []int64
	for _, s := range f.store.segs {
		if s.Camera == "front-door" && s.EndNS > t0.Add(30*time.Second).UnixNano() && s.StartNS < t0.Add(69*time.Minute+30*time.Second).UnixNano() {
			want = append(want, s.ID)
		}
	}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("pages gave %v\nwant %v", order, want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("segment %d returned %d times", id, n)
		}
	}
}

func TestCursorIsBoundToItsQuery(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(t, "GET", "/api/cameras/front-door/segments"+rangeQ+"&limit=2")
	var p segmentsPage
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.NextCursor == nil {
		t.Fatalf("no cursor: %s", w.Body)
	}
	c := url.QueryEscape(*p.NextCursor)
	other := "?start=" + url.QueryEscape(ts(0)) + "&end=" + url.QueryEscape(ts(2*time.Hour))
	tampered := []byte(*p.NextCursor)
	tampered[0] ^= 1
	for _, target := range []string{
		"/api/cameras/back-yard/segments" + rangeQ + "&cursor=" + c, // another camera
		"/api/cameras/front-door/segments" + other + "&cursor=" + c, // another range
		"/api/cameras/front-door/segments" + rangeQ + "&cursor=" + url.QueryEscape(string(tampered)),
		"/api/cameras/front-door/segments" + rangeQ + "&cursor=" + strings.Repeat("A", MaxCursorLen+1),
	} {
		if w := f.do(t, "GET", target); w.Code != 400 {
			t.Errorf("%s: status %d, want 400", target, w.Code)
		}
	}
	if w := f.do(t, "GET", "/api/cameras/front-door/segments"+rangeQ+"&limit=2&cursor="+c); w.Code != 200 {
		t.Fatalf("the genuine cursor: status %d %s", w.Code, w.Body)
	}
}

func TestLimitDefaultAndCap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"", DefaultLimit}, {"1", 1}, {"1000", 1000}, {"1001", MaxLimit}, {"99999999999999999999999", MaxLimit}} {
		got, err := parseLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseLimit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestTimelineShowsGaps(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(t, "GET", "/api/cameras/front-door/timeline?start="+url.QueryEscape(ts(0))+"&end="+url.QueryEscape(ts(2*time.Hour)))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	want := `{"spans":[{"start":"2026-03-29T00:00:00Z","end":"2026-03-29T00:30:00Z"},{"start":"2026-03-29T00:40:00Z","end":"2026-03-29T01:10:00Z"}]}` + "\n"
	if w.Body.String() != want {
		t.Fatalf("timeline\n got %s\nwant %s", w.Body, want)
	}
	w = f.do(t, "GET", "/api/cameras/never-recorded/timeline"+rangeQ)
	if w.Code != 200 || w.Body.String() != `{"spans":[]}`+"\n" {
		t.Fatalf("empty timeline: %d %s", w.Code, w.Body)
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, nil)
	if w := f.do(t, "GET", "/healthz"); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("healthy: %d %q", w.Code, w.Body)
	}
	f.store.pingErr = errFake("database is locked at /var/lib/nvr/index.db")
	w := f.do(t, "GET", "/healthz")
	if w.Code != 503 {
		t.Fatalf("unhealthy: status %d", w.Code)
	}
	if msg := errorOf(t, w); strings.Contains(msg, "/var/lib") {
		t.Fatalf("internal detail leaked: %q", msg)
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }

func TestNewRefusesBadOptions(t *testing.T) {
	base := func() Options {
		return Options{Store: &fakeStore{}, Cameras: fakeCameras{}, Exporter: &fakeExporter{}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no store", func(o *Options) { o.Store = nil }, "Store is required"},
		{"no cameras", func(o *Options) { o.Cameras = nil }, "Cameras is required"},
		{"no exporter", func(o *Options) { o.Exporter = nil }, "Exporter is required"},
		{"negative max export", func(o *Options) { o.MaxExport = -time.Hour }, "negative"},
		{"short token", func(o *Options) { o.Tokens = []Token{{Value: "secret"}} }, "shorter than"},
		{"token with space", func(o *Options) { o.Tokens = []Token{{Value: "0123456789abcdef 0123"}} }, "spaces"},
		{"repeated token", func(o *Options) {
			o.Tokens = []Token{{Value: "0123456789abcdef"}, {Value: "0123456789abcdef", Cameras: []string{"x"}}}
		}, "repeats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mod(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") || strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	if _, err := New(base()); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

// blockingStore answers nothing until the request's context ends, like an
// index stuck behind a lock (F13 is storage's to prevent; the API must still
// answer in bounded time).
type blockingStore struct{ *fakeStore }

func (b blockingStore) ListStreamSegments(ctx context.Context, camera, stream string, s, e int64, limit int, cursor string) ([]storage.Segment, string, error) {
	<-ctx.Done()
	return nil, "", fmt.Errorf("list: %w", ctx.Err())
}

func TestSlowStoreGives503(t *testing.T) {
	f := newFixture(t, nil)
	h, err := New(Options{Store: blockingStore{f.store}, Cameras: fakeCameras{{ID: "front-door"}}, Exporter: f.exp})
	if err != nil {
		t.Fatal(err)
	}
	h.(*handler).storeTimeout = 50 * time.Millisecond
	r := httptest.NewRequest("GET", "/api/cameras/front-door/segments"+rangeQ, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 503 {
		t.Fatalf("status %d, want 503", w.Code)
	}
	errorOf(t, w)
}

// refusingStore's Timeline refuses like storage does for a range with too
// many spans.
type refusingStore struct{ *fakeStore }

func (s refusingStore) StreamTimeline(ctx context.Context, camera, stream string, startNS, endNS int64) ([]storage.Span, error) {
	return nil, fmt.Errorf("%w: more than 100000 spans; ask for a shorter range", storage.ErrInvalid)
}

func TestIndexRefusalIs400(t *testing.T) {
	f := newFixture(t, nil)
	h, err := New(Options{Store: refusingStore{f.store}, Cameras: fakeCameras{{ID: "front-door"}}, Exporter: f.exp})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/cameras/front-door/timeline"+rangeQ, nil))
	if w.Code != 400 {
		t.Fatalf("status %d, want 400", w.Code)
	}
	if msg := errorOf(t, w); !strings.Contains(msg, "shorter range") {
		t.Fatalf("error %q", msg)
	}
}

// The API applies the camera-id rule (storage.ValidCameraID): an id that
// breaks it is unknown, even if a camera list were to hold it, so it
// never reaches the store.
func TestCameraIDRule(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Cameras = append(o.Cameras.(fakeCameras), CameraStatus{ID: "Front_Door", Name: "not a valid id"})
	})
	if w := f.do(t, "GET", "/api/cameras/Front_Door"); w.Code != 404 || !strings.Contains(w.Body.String(), "unknown camera") {
		t.Errorf("invalid id: %d %s, want 404 unknown camera", w.Code, w.Body)
	}
	if w := f.do(t, "GET", "/api/cameras/front-door"); w.Code != 200 {
		t.Errorf("valid id: %d %s", w.Code, w.Body)
	}
}

// At a resolution coarser than a gap the gap is merged away (it would be
// under a pixel); at a finer one it stays.
func TestTimelineResolution(t *testing.T) {
	f := newFixture(t, nil)
	q := "/api/cameras/front-door/timeline?start=" + url.QueryEscape(ts(0)) + "&end=" + url.QueryEscape(ts(2*time.Hour))
	for _, tc := range []struct {
		res   string
		spans int
	}{{"", 2}, {"5m", 2}, {"10m1s", 1}, {"1h", 1}} {
		p := q
		if tc.res != "" {
			p += "&resolution=" + tc.res
		}
		w := f.do(t, "GET", p)
		var body struct{ Spans []struct{ Start, End string } }
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &body) != nil || len(body.Spans) != tc.spans {
			t.Fatalf("resolution %q: %d %s", tc.res, w.Code, w.Body)
		}
		if body.Spans[0].Start != "2026-03-29T00:00:00Z" || body.Spans[len(body.Spans)-1].End != "2026-03-29T01:10:00Z" {
			t.Fatalf("resolution %q: %s", tc.res, w.Body)
		}
	}
	for _, bad := range []string{"0s", "-1m", "soon", "3h"} {
		if w := f.do(t, "GET", q+"&resolution="+bad); w.Code != 400 {
			t.Fatalf("resolution %q: %d", bad, w.Code)
		}
	}
}

// keyframeExporter has a keyframe every two seconds of footage.
type keyframeExporter struct{ *fakeExporter }

func (e keyframeExporter) KeyframeAtStream(ctx context.Context, camera, stream string, ns int64) (int64, int64, error) {
	for _, s := range e.store.segs {
		if s.Camera == camera && s.StreamName() == stream && ns >= s.StartNS && ns < s.EndNS {
			k := s.StartNS + (ns-s.StartNS)/int64(2*time.Second)*int64(2*time.Second)
			return k, k + int64(40*time.Millisecond), nil
		}
	}
	return 0, 0, fmt.Errorf("camera %s: %w", camera, footage.ErrNoFootage)
}

// TestTimelineKeyframe: with keyframe=1 the timeline names the keyframe
// that shows its start, so the UI can begin a clip there; in a gap or
// unasked there is none.
func TestTimelineKeyframe(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Exporter = keyframeExporter{o.Exporter.(*fakeExporter)} })
	get := func(q string) (int, string) {
		w := f.do(t, "GET", "/api/cameras/front-door/timeline?"+q)
		var body struct {
			Keyframe *string `json:"keyframe"`
		}
		if w.Code == 200 {
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
		}
		if body.Keyframe == nil {
			return w.Code, ""
		}
		return w.Code, *body.Keyframe
	}
	q := func(start time.Duration) string {
		return "start=" + url.QueryEscape(ts(start)) + "&end=" + url.QueryEscape(ts(start+time.Minute))
	}
	if code, k := get(q(3*time.Second+500*time.Millisecond) + "&keyframe=1"); code != 200 || k != ts(2*time.Second) {
		t.Fatalf("in footage: %d keyframe %q, want %s", code, k, ts(2*time.Second))
	}
	if code, k := get(q(35*time.Minute) + "&keyframe=1"); code != 200 || k != "" {
		t.Fatalf("in a gap: %d keyframe %q", code, k)
	}
	if code, k := get(q(3 * time.Second)); code != 200 || k != "" {
		t.Fatalf("not asked: %d keyframe %q", code, k)
	}
	if code, _ := get(q(3*time.Second) + "&keyframe=yes"); code != 400 {
		t.Fatalf("keyframe=yes: %d", code)
	}
}
