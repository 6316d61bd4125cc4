package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/live"
	"github.com/nvr-project/nvr/recorder/video"
)

type fakeLives map[string]*live.Stream

func (f fakeLives) Live(id string) *live.Stream { return f[id] }

// TestLiveView: the live WebSocket sends the init segment and then frames;
// it is refused without authentication, for a camera the token may not
// see, and from a page of another origin.
func TestLiveView(t *testing.T) {
	s := live.NewStream(nil)
	defer s.Close()
	f := newFixture(t, func(o *Options) {
		o.Live = fakeLives{"front-door": s}
		o.Tokens = []Token{{Value: "all-cameras-0123456789"}, {Value: "backyard-only-0123456789", Cameras: []string{"back-yard"}}}
	})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/cameras/front-door/live"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dial := func(token, origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	}
	for _, tc := range []struct {
		token, origin string
		status        int
	}{
		{"", "", http.StatusUnauthorized},
		{"backyard-only-0123456789", "", http.StatusForbidden},
		{"all-cameras-0123456789", "http://evil.example", http.StatusForbidden},
	} {
		_, resp, err := dial(tc.token, tc.origin)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Fatalf("token %q origin %q: %v, status %d, want %d", tc.token, tc.origin, err, code, tc.status)
		}
	}

	c, _, err := dial("all-cameras-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i, fr := range clip.Frames {
			if ctx.Err() != nil {
				return
			}
			s.Frame(&video.AccessUnit{NALUs: fr.NALUs, DTS: fr.DTS + 9000, PTS: fr.PTS + 9000, Keyframe: fr.Keyframe, SPS: clip.SPS, PPS: clip.PPS}, int64(i+1))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	typ, b, err := c.Read(ctx)
	var init struct{ Type, Codec string }
	if err != nil || typ != websocket.MessageText || json.Unmarshal(b, &init) != nil || init.Type != "init" || !strings.HasPrefix(init.Codec, "avc1.") {
		t.Fatalf("first message: %v %v %s", err, typ, b)
	}
	typ, b, err = c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || b[0] != 0 || !bytes.Contains(b[:64], []byte("ftyp")) {
		t.Fatalf("init segment: %v", err)
	}
	typ, b, err = c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || b[0] != 1 || !bytes.Contains(b[:64], []byte("moof")) {
		t.Fatalf("first frame: %v", err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Viewers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the viewer outlived its connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
