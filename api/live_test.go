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
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/video"
)

// fakeLives maps "id" to a camera's main stream and "id/sub" to its sub
// stream.
type fakeLives map[string]*live.Stream

func (f fakeLives) Live(id string) *live.Stream    { return f[id] }
func (f fakeLives) LiveSub(id string) *live.Stream { return f[id+"/sub"] }

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

// TestLiveSubStream: ?stream=sub serves the camera's sub stream and
// ?stream=main (or none) its main stream; a camera without a sub stream
// answers 404, a stream that is neither 400. The camera list shows the
// sub stream's state, its error redacted.
func TestLiveSubStream(t *testing.T) {
	main, sub := live.NewStream(nil), live.NewStream(nil)
	defer main.Close()
	defer sub.Close()
	const token = "all-cameras-0123456789"
	f := newFixture(t, func(o *Options) {
		o.Live = fakeLives{"front-door": main, "front-door/sub": sub, "back-yard": live.NewStream(nil)}
		o.Tokens = []Token{{Value: token}}
		cams := o.Cameras.(fakeCameras)
		cams[0].Sub = &SubStatus{State: "retrying", LastError: "dial rtsp://admin:hunter2@192.0.2.7/sub: refused"}
	})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(path string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{"Authorization": {"Bearer " + token}}
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
	}
	for path, status := range map[string]int{
		"/api/cameras/back-yard/live?stream=sub":    http.StatusNotFound,
		"/api/cameras/front-door/live?stream=thumb": http.StatusBadRequest,
		"/api/cameras/front-door/live?audio=no":     http.StatusBadRequest,
	} {
		if _, resp, err := dial(path); err == nil || resp == nil || resp.StatusCode != status {
			t.Errorf("%s: %v, %v; want status %d", path, err, resp, status)
		}
	}
	feed := func(s *live.Stream, name string) {
		clip, err := testcam.LoadClip(name)
		if err != nil {
			t.Error(err)
			return
		}
		for i, fr := range clip.Frames {
			if ctx.Err() != nil {
				return
			}
			s.Frame(&video.AccessUnit{NALUs: fr.NALUs, DTS: fr.DTS + 9000, PTS: fr.PTS + 9000, Keyframe: fr.Keyframe, SPS: clip.SPS, PPS: clip.PPS}, int64(i+1))
			time.Sleep(5 * time.Millisecond)
		}
	}
	go feed(main, testcam.ClipHigh360BFrame)
	go feed(sub, testcam.ClipBase240)
	for path, width := range map[string]int{
		"/api/cameras/front-door/live":             640,
		"/api/cameras/front-door/live?stream=main": 640,
		"/api/cameras/front-door/live?stream=sub":  320,
	} {
		c, _, err := dial(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_, b, err := c.Read(ctx)
		var init struct{ Width int }
		if err != nil || json.Unmarshal(b, &init) != nil || init.Width != width {
			t.Errorf("%s: init %s (%v); want width %d", path, b, err, width)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}

	req := httptest.NewRequest("GET", "/api/cameras", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var list []struct {
		ID        string
		SubStream *struct {
			State     string `json:"state"`
			LastError string `json:"last_error"`
		} `json:"sub_stream"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) < 2 {
		t.Fatalf("camera list %s: %v", rec.Body, err)
	}
	for _, c := range list {
		switch {
		case c.ID == "front-door" && (c.SubStream == nil || c.SubStream.State != "retrying" || c.SubStream.LastError == ""):
			t.Errorf("front-door sub_stream %+v", c.SubStream)
		case c.ID != "front-door" && c.SubStream != nil:
			t.Errorf("%s has a sub_stream %+v", c.ID, c.SubStream)
		}
	}
	if strings.Contains(rec.Body.String(), "hunter2") {
		t.Error("the sub stream's error shows the password")
	}
}

// TestLiveAudioParam: a camera with sound streams init segments with its
// audio track by default (and with audio=1); audio=0 streams the picture
// alone, every init without an audio track, for a browser that cannot
// play the sound.
func TestLiveAudioParam(t *testing.T) {
	s := live.NewStream(nil)
	defer s.Close()
	const token = "all-cameras-0123456789"
	f := newFixture(t, func(o *Options) {
		o.Live = fakeLives{"front-door": s}
		o.Tokens = []Token{{Value: token}}
	})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	format := &audio.Format{Codec: audio.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 1, Opus: true}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for loop := int64(0); ctx.Err() == nil; loop++ {
			for i, fr := range clip.Frames {
				if ctx.Err() != nil {
					return
				}
				dts := fr.DTS + 9000 + loop*clip.Duration
				// Two 20 ms Opus frames (a TOC byte for 20 ms, one frame) per 40 ms picture.
				for k := range int64(2) {
					s.Audio(format, &audio.Frame{PTS: dts*48000/90000 + k*960, Duration: 960, Data: []byte{0x08, 0, 0}}, int64(i+1))
				}
				s.Frame(&video.AccessUnit{NALUs: fr.NALUs, DTS: dts, PTS: fr.PTS + 9000 + loop*clip.Duration, Keyframe: fr.Keyframe, SPS: clip.SPS, PPS: clip.PPS}, int64(i+1))
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	defer func() { cancel(); <-done }()
	// inits reads until frames binary frames have come and returns the
	// codec strings of the init messages among them.
	inits := func(path string, frames int) []string {
		h := http.Header{"Authorization": {"Bearer " + token}}
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer c.CloseNow()
		var codecs []string
		for n := 0; n < frames; {
			typ, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("%s: %v after %d frames", path, err, n)
			}
			if typ == websocket.MessageText {
				var init struct{ Codec string }
				if err := json.Unmarshal(b, &init); err != nil {
					t.Fatal(err)
				}
				codecs = append(codecs, init.Codec)
			} else if b[0] == 1 {
				n++
			}
		}
		return codecs
	}
	// 60 frames span two keyframes: the audio's init has come by then.
	for _, path := range []string{"/api/cameras/front-door/live", "/api/cameras/front-door/live?audio=1"} {
		if c := inits(path, 60); !strings.HasSuffix(c[len(c)-1], ",opus") {
			t.Errorf("%s: inits %q, want one with opus", path, c)
		}
	}
	c := inits("/api/cameras/front-door/live?audio=0", 60)
	for _, codec := range c {
		if strings.Contains(codec, ",") {
			t.Fatalf("audio=0: init codec %q has an audio track", codec)
		}
	}
	if len(c) == 0 {
		t.Fatal("audio=0: no init segment")
	}
}
