package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/s3test"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/objstore"
)

// denyPuts is a transport in front of the real S3 server that answers a PUT
// whose path ends with one of the keys (or every PUT, with all) with S3's
// AccessDenied, as a bucket policy refusing a prefix would.
type denyPuts struct {
	keys []string
	all  atomic.Bool
}

func (d *denyPuts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("uploadId") == "" {
		deny := d.all.Load()
		for _, k := range d.keys {
			deny = deny || strings.HasSuffix(r.URL.Path, "/"+k)
		}
		if deny {
			if r.Body != nil {
				r.Body.Close()
			}
			body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>`
			return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestUploadPassesOverBadSegment: a segment whose upload fails on its own
// never holds up the ones behind it, whether the failure says so (other
// bytes already at its key: storage.ErrUploadSegment) or not (a refusal
// of its key alone, told apart by the next segment uploading). It stays
// local, is counted as held, and is tried again once its wait is over.
// When every upload fails, the bucket is what fails: the pass stops and
// nothing is held.
func TestUploadPassesOverBadSegment(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Shared(t)
	_, cfg := s3test.Bucket(t)
	deny := &denyPuts{}
	cfg.Transport = deny
	bucket, err := objstore.NewWithKeys(cfg, srv.Access, srv.Secret)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.OpenWithOptions(ctx, t.TempDir(), storage.Options{Objects: bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureCamera(ctx, "cam", ""); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var segs []storage.Segment
	for i := range 6 {
		segs = append(segs, finishedSegment(t, st, t0.Add(time.Duration(i)*10*time.Second)))
	}
	// Segment 0: other bytes already at its key. Segment 2: its key refused.
	other := []byte("not this segment")
	if err := bucket.Put(ctx, bucket.Key(segs[0].Path), bytes.NewReader(other), int64(len(other)), sha256.Sum256(other)); err != nil {
		t.Fatal(err)
	}
	deny.keys = []string{segs[2].Path}

	f := &Fleet{store: st, uploads: &uploader{objects: bucket}, log: discardLog()}
	ensured := false
	if err := f.uploadPass(ctx, &ensured); err != nil {
		t.Fatalf("pass with two bad segments: %v", err)
	}
	object := func(s storage.Segment) string {
		t.Helper()
		got, err := st.Segment(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Object
	}
	for i, s := range segs {
		if bad := i == 0 || i == 2; (object(s) == "") != bad {
			t.Errorf("segment %d: object %q; want uploaded only if good", i, object(s))
		}
	}
	status := func() UploadStatus {
		t.Helper()
		us, ok, err := f.Uploads(ctx)
		if err != nil || !ok {
			t.Fatalf("Uploads: %v, %v", ok, err)
		}
		return us
	}
	us := status()
	if us.Held != 2 || us.Uploaded != 4 || us.Backlog.Segments != 2 {
		t.Errorf("status %+v; want 2 held, 4 uploaded, 2 in the backlog", us)
	}
	if !strings.Contains(us.HeldError, "AccessDenied") && !strings.Contains(us.HeldError, "Access Denied") {
		t.Errorf("held error %q does not say why", us.HeldError)
	}

	// A new segment behind them goes up at once; the held ones are not
	// tried before their wait is over.
	segs = append(segs, finishedSegment(t, st, t0.Add(time.Minute)))
	deny.keys = nil
	if err := f.uploadPass(ctx, &ensured); err != nil {
		t.Fatal(err)
	}
	if object(segs[6]) == "" || object(segs[2]) != "" {
		t.Errorf("after the second pass: new %q, held %q; want the new one up and the held one untried", object(segs[6]), object(segs[2]))
	}

	// Their wait over: segment 2 (its key allowed now) goes up; segment 0
	// fails again and waits twice as long.
	f.uploads.mu.Lock()
	for id, h := range f.uploads.held {
		h.retry = time.Now().Add(-time.Second)
		f.uploads.held[id] = h
	}
	f.uploads.mu.Unlock()
	if err := f.uploadPass(ctx, &ensured); err != nil {
		t.Fatal(err)
	}
	if object(segs[2]) == "" || object(segs[0]) != "" {
		t.Errorf("retry: segment 2 %q, segment 0 %q; want 2 uploaded, 0 still local", object(segs[2]), object(segs[0]))
	}
	us = status()
	if us.Held != 1 || us.Backlog.Segments != 1 {
		t.Errorf("status after the retry %+v; want 1 held", us)
	}
	if h := f.uploads.held[segs[0].ID]; h.wait != 2*heldRetryMin {
		t.Errorf("segment 0 waits %v; want %v", h.wait, 2*heldRetryMin)
	}

	// Every PUT refused: the bucket fails, not the segments.
	deny.all.Store(true)
	for i := range 3 {
		segs = append(segs, finishedSegment(t, st, t0.Add(2*time.Minute+time.Duration(i)*10*time.Second)))
	}
	err = f.uploadPass(ctx, &ensured)
	if err == nil || errors.Is(err, storage.ErrUploadSegment) {
		t.Fatalf("pass with every PUT refused: %v; want the bucket's error", err)
	}
	if us := status(); us.Held != 1 || us.Backlog.Segments != 4 {
		t.Errorf("status in the outage %+v; want still 1 held, 4 waiting", us)
	}
	deny.all.Store(false)
	if err := f.uploadPass(ctx, &ensured); err != nil {
		t.Fatal(err)
	}
	if us := status(); us.Backlog.Segments != 1 {
		t.Errorf("after the outage the backlog is %d; want only the held segment", us.Backlog.Segments)
	}
}

// finishedSegment indexes a complete segment of random-looking bytes
// starting at start (the uploader does not read what is in it).
func finishedSegment(t *testing.T, st *storage.Store, start time.Time) storage.Segment {
	t.Helper()
	ctx := context.Background()
	seg := storage.Segment{Camera: "cam", StartNS: start.UnixNano(), Codecs: "avc1.4d401f", Width: 640, Height: 360}
	f, err := st.CreateSegment(ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	data := bytes.Repeat([]byte(start.Format(time.RFC3339Nano)), 500)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if seg, err = st.Segment(ctx, id); err != nil {
		t.Fatal(err)
	}
	seg.EndNS = seg.StartNS + int64(10*time.Second)
	seg.Bytes, seg.Frames, seg.Keyframes = int64(len(data)), 250, 5
	if err := f.Finish(ctx, seg); err != nil {
		t.Fatal(err)
	}
	got, err := st.Segment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
