package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/api/ui"
)

// The UI is served at / and /ui/…, with its security headers; unknown
// files under /ui/ are 404 JSON like any unknown path.
func TestUIServed(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Location = mustZone(t, "Europe/Berlin") })
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html"}, {"/ui/index.html", "text/html"}, {"/ui/app.js", "text/javascript"}, {"/ui/app.css", "text/css"},
	} {
		w := f.do(t, "GET", tc.path)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) {
			t.Fatalf("%s: %d %q", tc.path, w.Code, w.Header().Get("Content-Type"))
		}
		if got := w.Header().Get("Content-Security-Policy"); got != ui.ContentSecurityPolicy || !strings.Contains(got, "script-src 'self'") || strings.Contains(got, "unsafe-inline") {
			t.Fatalf("%s: CSP %q", tc.path, got)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("ETag") == "" {
			t.Fatalf("%s: headers %v", tc.path, w.Header())
		}
	}
	if w := f.do(t, "GET", "/ui/nope.js"); w.Code != http.StatusNotFound {
		t.Fatalf("/ui/nope.js: %d", w.Code)
	}
	// A Range on a UI file (unsatisfiable or not) gets the whole file, never
	// a plain-text 416.
	for _, rng := range []string{"0", "bytes=999999-", "bytes=0-3"} {
		if w := f.do(t, "GET", "/", "Range", rng); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<html") {
			t.Fatalf("Range %q: %d %q", rng, w.Code, w.Header().Get("Content-Type"))
		}
	}
	// The page carries no inline script: every <script> has a src.
	page := f.do(t, "GET", "/").Body.String()
	if strings.Contains(page, "<script>") || strings.Count(page, "<script") != strings.Count(page, `<script type="module" src=`) {
		t.Fatalf("inline script in the page")
	}
	var info struct{ Timezone string }
	if w := f.do(t, "GET", "/api/info"); w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &info) != nil || info.Timezone != "Europe/Berlin" {
		t.Fatalf("/api/info: %d %s", w.Code, w.Body)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
