package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

type fakeUploads struct {
	st  UploadStatus
	ok  bool
	err error
}

func (u fakeUploads) Uploads(context.Context) (UploadStatus, bool, error) { return u.st, u.ok, u.err }

// /api/info shows the upload backlog with a bucket, nothing without one,
// and the last error redacted.
func TestInfoUploads(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 2, 3, 0, time.UTC)
	up := fakeUploads{ok: true, st: UploadStatus{BacklogSegments: 3, BacklogBytes: 9000, Uploaded: 7, Failures: 2,
		LastError: `put http://AKIAKEY:s3cr3tvalue@bucket.local/x: refused`, LastErrorAt: at}}
	f := newFixture(t, func(o *Options) { o.Uploads = up })
	w := f.do(t, "GET", "/api/info")
	var info struct {
		Uploads *uploadsJSON `json:"uploads"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &info) != nil || info.Uploads == nil {
		t.Fatalf("/api/info: %d %s", w.Code, w.Body)
	}
	u := info.Uploads
	if u.BacklogSegments != 3 || u.BacklogBytes != 9000 || u.Uploaded != 7 || u.Failures != 2 || u.LastErrorAt == nil || !u.LastErrorAt.Equal(at) {
		t.Errorf("uploads = %+v", u)
	}
	if strings.Contains(w.Body.String(), "s3cr3tvalue") || !strings.Contains(u.LastError, "refused") {
		t.Errorf("last_error not redacted or lost: %q", u.LastError)
	}

	f = newFixture(t, func(o *Options) { o.Uploads = fakeUploads{} })
	if w := f.do(t, "GET", "/api/info"); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "uploads") {
		t.Errorf("/api/info without a bucket: %d %s", w.Code, w.Body)
	}
	f = newFixture(t, func(o *Options) { o.Uploads = fakeUploads{ok: true, err: errors.New("index down")} })
	if w := f.do(t, "GET", "/api/info"); w.Code != http.StatusInternalServerError {
		t.Errorf("/api/info with a failing backlog query: %d %s", w.Code, w.Body)
	}
}
