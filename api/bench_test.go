package api

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// discardWriter is a ResponseWriter that counts and drops the body, so a
// benchmark measures the API, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// BenchmarkExportServe measures the API's part of an export: headers,
// ServeContent and the copy from the clip to the connection (the clip is in
// memory, so this is the ceiling the API puts on export throughput).
func BenchmarkExportServe(b *testing.B) {
	f := newFixture(b, nil)
	f.exp.data = bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	r := httptest.NewRequest("GET", exportPath+rangeQ, nil)
	b.SetBytes(int64(len(f.exp.data)))
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		f.h.ServeHTTP(w, r)
		if w.n != int64(len(f.exp.data)) {
			b.Fatalf("sent %d bytes, status %d", w.n, w.code)
		}
	}
}

// BenchmarkListSegmentsPage measures one full page (MaxLimit segments) of
// /segments, store excluded: validation, cursor sealing and JSON.
func BenchmarkListSegmentsPage(b *testing.B) {
	st := &fakeStore{}
	for i := range 2 * MaxLimit {
		s := t0.Add(time.Duration(i) * time.Minute).UnixNano()
		st.segs = append(st.segs, storage.Segment{ID: int64(i + 1), Camera: "front-door", StartNS: s, EndNS: s + int64(time.Minute),
			Bytes: 30 << 20, Frames: 1500, Codecs: "avc1.4d401f", Width: 1920, Height: 1080, State: storage.StateComplete})
	}
	h, err := New(Options{Store: st, Cameras: fakeCameras{{ID: "front-door"}}, Exporter: &fakeExporter{}})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/cameras/front-door/segments?start=2026-03-29T00:00:00Z&end=2026-03-31T00:00:00Z&limit=1000", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkAuthenticate measures checking a bearer token against 10
// configured tokens (constant time: every token is compared).
func BenchmarkAuthenticate(b *testing.B) {
	var toks []Token
	for i := range 10 {
		toks = append(toks, Token{Value: tokAll + string(rune('a'+i))})
	}
	a, err := newAuthenticator(toks, nil, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/api/cameras", nil)
	r.Header.Set("Authorization", "Bearer "+tokAll+"j")
	b.ReportAllocs()
	for b.Loop() {
		if p, err := a.authenticate(r); err != nil || p == nil {
			b.Fatal("refused", err)
		}
	}
}

// BenchmarkExportLoopback is BenchmarkExportServe over a real loopback TCP
// connection through NewServer, per-write deadlines included.
func BenchmarkExportLoopback(b *testing.B) {
	f := newFixture(b, nil)
	f.exp.data = bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), f.h)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-done }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + exportPath + rangeQ
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(f.exp.data)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || n != int64(len(f.exp.data)) {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
