package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/storage"
)

// t0 is a fixed instant the fakes' footage starts at.
var t0 = time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)

func ts(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

type fakeStore struct {
	mu       sync.Mutex
	segs     []storage.Segment // sorted by StartNS, then ID
	dir      string
	pingErr  error
	seenCams map[string]int // every camera id the API passed in
}

func (s *fakeStore) saw(camera string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seenCams == nil {
		s.seenCams = map[string]int{}
	}
	s.seenCams[camera]++
}

func (s *fakeStore) Ping(ctx context.Context) error { return s.pingErr }

func (s *fakeStore) Segment(ctx context.Context, id int64) (storage.Segment, error) {
	for _, seg := range s.segs {
		if seg.ID == id {
			return seg, nil
		}
	}
	return storage.Segment{}, fmt.Errorf("%w: segment %d", storage.ErrNotFound, id)
}

func (s *fakeStore) OpenSegment(ctx context.Context, seg storage.Segment) (storage.SegmentReader, error) {
	f, err := s.OpenSegmentFile(seg)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileReader{f, fi.Size()}, nil
}

type fileReader struct {
	*os.File
	size int64
}

func (r fileReader) Size() int64 { return r.size }

func (s *fakeStore) OpenSegmentFile(seg storage.Segment) (*os.File, error) {
	f, err := os.Open(filepath.Join(s.dir, seg.Path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", storage.ErrNotFound, err)
	}
	return f, err
}

// ListStreamSegments pages with an opaque cursor "after-<id>".
func (s *fakeStore) ListStreamSegments(ctx context.Context, camera, stream string, startNS, endNS int64, limit int, cursor string) ([]storage.Segment, string, error) {
	s.saw(camera)
	after := int64(-1)
	if cursor != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(cursor, "after-"), 10, 64)
		if err != nil || !strings.HasPrefix(cursor, "after-") {
			return nil, "", errors.New("fake store: garbage cursor reached the store")
		}
		after = n
	}
	var out []storage.Segment
	passed := after < 0
	for _, seg := range s.segs {
		if seg.Camera != camera || seg.StreamName() != stream || seg.EndNS <= startNS || seg.StartNS >= endNS {
			continue
		}
		if !passed {
			passed = seg.ID == after
			continue
		}
		if len(out) == limit {
			return out, "after-" + strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, seg)
	}
	return out, "", nil
}

func (s *fakeStore) StreamTimeline(ctx context.Context, camera, stream string, startNS, endNS int64) ([]storage.Span, error) {
	s.saw(camera)
	var spans []storage.Span
	for _, seg := range s.segs {
		if seg.Camera != camera || seg.StreamName() != stream || seg.EndNS <= startNS || seg.StartNS >= endNS {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].EndNS == seg.StartNS {
			spans[n-1].EndNS = seg.EndNS
			continue
		}
		spans = append(spans, storage.Span{StartNS: seg.StartNS, EndNS: seg.EndNS})
	}
	return spans, nil
}

func (s *fakeStore) CameraStats(ctx context.Context, camera string) (storage.CameraStats, error) {
	s.saw(camera)
	var st storage.CameraStats
	for _, seg := range s.segs {
		if seg.Camera != camera {
			continue
		}
		if st.Segments == 0 {
			st.FirstNS = seg.StartNS
		}
		st.Segments++
		st.Bytes += seg.Bytes
		st.LastNS = max(st.LastNS, seg.EndNS)
	}
	if st.Segments == 0 {
		return st, storage.ErrNotFound
	}
	return st, nil
}

type fakeCameras []CameraStatus

func (c fakeCameras) Cameras() []CameraStatus { return c }

type fakeClip struct {
	data    []byte
	etag    string
	gaps    []footage.Span
	audio   bool
	skipped int
	closed  *atomic.Int32
}

func (c *fakeClip) HasAudio() bool    { return c.audio }
func (c *fakeClip) AudioSkipped() int { return c.skipped }

func (c *fakeClip) Size() int64          { return int64(len(c.data)) }
func (c *fakeClip) ETag() string         { return c.etag }
func (c *fakeClip) Gaps() []footage.Span { return c.gaps }
func (c *fakeClip) Close() error         { c.closed.Add(1); return nil }

type fakeExporter struct {
	store    *fakeStore
	data     []byte
	gaps     []footage.Span
	etag     string
	audio    bool // the clip has audio
	skipped  int  // segments whose audio was left out
	block    bool // wait for the context to end (a slow export)
	opened   atomic.Int32
	closed   atomic.Int32
	calls    atomic.Int32
	canceled chan struct{}
}

func (e *fakeExporter) ExportStream(ctx context.Context, camera, stream string, startNS, endNS int64, timestamps bool) (Clip, error) {
	e.calls.Add(1)
	e.store.saw(camera)
	if e.block {
		<-ctx.Done()
		close(e.canceled)
		return nil, fmt.Errorf("fake export: %w", ctx.Err())
	}
	found := false
	for _, seg := range e.store.segs {
		if seg.Camera == camera && seg.StreamName() == stream && seg.EndNS > startNS && seg.StartNS < endNS {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("fake export %s: %w", camera, footage.ErrNoFootage)
	}
	e.opened.Add(1)
	return &readerClip{fakeClip{data: e.data, etag: e.etag, gaps: e.gaps, audio: e.audio, skipped: e.skipped, closed: &e.closed}, ctx}, nil
}

// readerClip gives fakeClip a ReadAt over its bytes. Like a real export,
// it stops once the context it was exported under ends.
type readerClip struct {
	fakeClip
	ctx context.Context
}

func (c *readerClip) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return bytes.NewReader(c.data).ReadAt(p, off)
}

type fixture struct {
	h     http.Handler
	store *fakeStore
	exp   *fakeExporter
}

// newFixture builds the API over fakes: cameras front-door (60 one-minute
// segments from t0 with a gap after the 30th), back-yard (3 segments) and
// never-recorded (none). Each segment's file holds 1000 bytes.
func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	st := &fakeStore{dir: sharedDir}
	id := int64(0)
	add := func(cam string, start time.Duration) {
		id++
		p := fmt.Sprintf("%s-%d.mp4", cam, id)
		st.segs = append(st.segs, storage.Segment{
			ID: id, Camera: cam, StartNS: t0.Add(start).UnixNano(), EndNS: t0.Add(start + time.Minute).UnixNano(),
			Path: p, Bytes: 1000, Frames: 1500, Keyframes: 30, Codecs: "avc1.4d401f", Width: 1280, Height: 720,
			State: storage.StateComplete,
		})
	}
	for i := range 60 {
		gap := time.Duration(0)
		if i >= 30 {
			gap = 10 * time.Minute
		}
		add("front-door", time.Duration(i)*time.Minute+gap)
	}
	for i := range 3 {
		add("back-yard", time.Duration(i)*time.Minute)
	}
	sort.Slice(st.segs, func(i, j int) bool { return st.segs[i].StartNS < st.segs[j].StartNS })
	data := clipBytes()
	exp := &fakeExporter{store: st, data: data, etag: "clip-v1", canceled: make(chan struct{}),
		gaps: []footage.Span{{StartNS: t0.Add(30 * time.Minute).UnixNano(), EndNS: t0.Add(40 * time.Minute).UnixNano()}}}
	opts := Options{
		Store: st, Exporter: exp,
		Cameras: fakeCameras{
			{ID: "front-door", Name: "Front door", State: "recording", RecordingSince: t0, AudioCodec: "mp4a.40.2"},
			{ID: "back-yard", Name: "Back yard", State: "idle", NextWindow: t0.Add(22 * time.Hour)},
			{ID: "never-recorded", Name: "Never", State: "retrying",
				LastError: "dial rtsp://admin:hunter2@192.0.2.7:554/Streaming/Channels/101?password=hunter2: connection refused"},
		},
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: h, store: st, exp: exp}
}

func (f *fixture) do(t testing.TB, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://nvr.test"+target, nil)
	r.RemoteAddr = "192.0.2.1:40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			r.RemoteAddr = hdr[i+1]
			continue
		}
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// errorOf checks that w carries the JSON error body and returns its message.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d: Content-Type %q, want JSON; body %q", w.Code, ct, w.Body.String())
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d: body %q is not JSON: %v", w.Code, w.Body.String(), err)
	}
	msg, ok := body["error"].(string)
	if !ok || msg == "" || len(body) != 1 {
		t.Fatalf("status %d: body %q is not {\"error\": \"...\"}", w.Code, w.Body.String())
	}
	return msg
}

func mustOpen(t testing.TB, s *fakeStore, seg storage.Segment) *os.File {
	t.Helper()
	f, err := s.OpenSegmentFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// removeFile makes the row of segment id point at a file that is gone, as
// when retention deletes it between the lookup and the open.
func removeFile(s *fakeStore, id int64) {
	for i := range s.segs {
		if s.segs[i].ID == id {
			s.segs[i].Path = "deleted-by-retention.mp4"
		}
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// clipBytes is the fake export's content: 100 003 bytes (an odd size, so
// range arithmetic meets a short last chunk), built once.
var clipBytes = sync.OnceValue(func() []byte {
	data := make([]byte, 100_003)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	return data
})

// sharedDir holds the fixture's segment files, written once for the whole
// test binary: creating files is slow on some CI file systems, and every
// fixture has the same segments. Tests must not change these files.
var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nvr-api-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	id := 0
	for _, c := range []struct {
		cam string
		n   int
	}{{"front-door", 60}, {"back-yard", 3}} {
		for range c.n {
			id++
			data := []byte(strings.Repeat(fmt.Sprintf("%s%05d", c.cam, id), 1000)[:1000])
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.mp4", c.cam, id)), data, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
