package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nvr-project/nvr/storage"
)

// allowedStatus is every status the API may answer.
var allowedStatus = map[int]bool{200: true, 206: true, 304: true, 400: true, 401: true, 403: true,
	404: true, 405: true, 414: true, 416: true, 429: true}

// FuzzHandler feeds arbitrary paths, queries and headers to the API. It must
// never panic, answer only known statuses, put every error in the JSON
// body, pass only configured camera ids to the store, and never start an
// export for a request it refuses as bad.
func FuzzHandler(f *testing.F) {
	for _, tc := range errorCases {
		path, query, _ := strings.Cut(tc.target, "?")
		rng := ""
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			if tc.hdr[i] == "Range" {
				rng = tc.hdr[i+1]
			}
		}
		f.Add(tc.method, path, query, "Bearer "+tokAll, rng)
	}
	f.Add("GET", "/api/cameras/front-door/export", rangeQ[1:], "", "bytes=0-10,20-30")
	f.Add("HEAD", "/api/segments/1", "", "Bearer "+tokFront, "bytes=-5")
	fx := newFixture(f, func(o *Options) {
		o.Tokens = []Token{{Value: tokAll}, {Value: tokFront, Cameras: []string{"front-door"}}}
	})
	f.Fuzz(func(t *testing.T, method, path, query, auth, rng string) {
		u, err := url.Parse("http://nvr.test" + path)
		if err != nil || u.Host != "nvr.test" || !strings.HasPrefix(path, "/") {
			return
		}
		u.RawQuery = query
		r := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: "nvr.test", RemoteAddr: "192.0.2.1:1",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		r = r.WithContext(t.Context())
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		calls := fx.exp.calls.Load()
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		if !allowedStatus[w.Code] {
			t.Fatalf("%s %s?%s: status %d: %s", method, path, query, w.Code, w.Body)
		}
		if w.Code >= 400 && method != http.MethodHead {
			errorOf(t, w)
		}
		if w.Code == 400 && fx.exp.calls.Load() != calls {
			t.Fatalf("%s?%s: a bad request reached the exporter", path, query)
		}
		fx.store.mu.Lock()
		defer fx.store.mu.Unlock()
		for cam := range fx.store.seenCams {
			if cam != "front-door" && cam != "back-yard" && cam != "never-recorded" {
				t.Fatalf("store received camera id %q", cam)
			}
		}
	})
}

// FuzzCursor: arbitrary cursors are refused without a panic; the only
// cursors accepted are the ones the API sealed.
func FuzzCursor(f *testing.F) {
	h := newFixture(f, nil).h.(*handler)
	tr := timeRange{1, 2}
	good := h.sealCursor("front-door", storage.StreamMain, tr, "after-5")
	f.Add(good)
	f.Add("after-5")
	f.Add("YWZ0ZXItNQ.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(".")
	f.Add(strings.Repeat("A", MaxCursorLen+1))
	f.Fuzz(func(t *testing.T, c string) {
		got, err := h.openCursor("front-door", storage.StreamMain, tr, c)
		if err == nil && c != "" && c != good {
			t.Fatalf("accepted a cursor the API did not issue: %q -> %q", c, got)
		}
		if c == good && (err != nil || got != "after-5") {
			t.Fatalf("refused its own cursor: %v", err)
		}
	})
}
