package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// fakeEvents hands each subscriber the events sent with emit.
type fakeEvents struct {
	mu   sync.Mutex
	subs []chan Event
}

func (f *fakeEvents) Subscribe(buf int) (<-chan Event, func()) {
	c := make(chan Event, buf)
	f.mu.Lock()
	f.subs = append(f.subs, c)
	f.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, s := range f.subs {
				if s == c {
					f.subs = append(f.subs[:i], f.subs[i+1:]...)
				}
			}
		})
	}
}

func (f *fakeEvents) emit(ev Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		s <- ev
	}
}

func (f *fakeEvents) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.subs) }

// TestEventStream: Server-Sent Events carry state and segment changes,
// only of the cameras the client may see, with passwords redacted; a
// client that goes away ends its subscription.
func TestEventStream(t *testing.T) {
	src := &fakeEvents{}
	f := newFixture(t, func(o *Options) {
		o.Events = src
		o.Tokens = []Token{{Value: "backyard-token-0123456789", Cameras: []string{"back-yard"}}}
	})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer backyard-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for src.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	seg := storage.Segment{ID: 7, Camera: "back-yard", StartNS: t0.UnixNano(), EndNS: t0.Add(time.Minute).UnixNano(), Bytes: 10, Frames: 25, State: storage.StateComplete}
	src.emit(Event{Type: "state", Camera: "front-door", State: "retrying", LastError: "secret camera"})
	src.emit(Event{Type: "state", Camera: "back-yard", State: "retrying", LastError: "dial rtsp://admin:hunter2@192.0.2.7/x: refused"})
	src.emit(Event{Type: "segment", Camera: "back-yard", Segment: &seg})
	sub := seg
	sub.ID, sub.Stream = 8, storage.StreamSub
	src.emit(Event{Type: "segment", Camera: "back-yard", Segment: &sub})
	src.emit(Event{Type: "missed", Missed: 3})
	rd := bufio.NewReader(resp.Body)
	var got []map[string]any
	for len(got) < 4 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
	}
	if got[0]["camera"] != "back-yard" || got[0]["state"] != "retrying" || strings.Contains(got[0]["last_error"].(string), "hunter2") {
		t.Fatalf("first event %v: another camera's event leaked or the password shows", got[0])
	}
	s := got[1]["segment"].(map[string]any)
	if got[1]["type"] != "segment" || s["start"] != ts(0) || s["end"] != ts(time.Minute) || s["complete"] != true || s["stream"] != "main" {
		t.Fatalf("segment event %v", got[1])
	}
	// A recorded sub stream's segment says so: the UI's main timeline
	// skips it.
	if s := got[2]["segment"].(map[string]any); got[2]["type"] != "segment" || s["id"] != 8.0 || s["stream"] != "sub" {
		t.Fatalf("sub segment event %v", got[2])
	}
	if got[3]["type"] != "missed" || got[3]["missed"] != 3.0 {
		t.Fatalf("missed event %v", got[3])
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for src.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived its client")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Without a token: 401, and no subscription.
	if w := f.do(t, "GET", "/api/events"); w.Code != http.StatusUnauthorized || src.count() != 0 {
		t.Fatalf("events without a token: %d", w.Code)
	}
}
