package rtsp

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// openFake opens a session on a scripted camera.
func openFake(t *testing.T, h fakeHandler, cfg Config) (*Session, *fakeServer) {
	t.Helper()
	srv := startFake(t, h)
	if cfg.URL == "" {
		cfg.URL = "rtsp://" + srv.addr + "/cam"
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// streamer returns a handler that, after PLAY, sends what next returns
// every interval until the connection closes.
func streamer(sc script, interval time.Duration, next func(i int) string) fakeHandler {
	base := sc.handler()
	return func(c *fakeConn, r *fakeReq) bool {
		ok := base(c, r)
		if r.method == "PLAY" {
			c.srv.wg.Add(1)
			go func() {
				defer c.srv.wg.Done()
				for i := 0; ; i++ {
					time.Sleep(interval)
					if _, err := c.Write([]byte(next(i))); err != nil {
						return
					}
				}
			}()
		}
		return ok
	}
}

// TestMediaTimeout (F2): RTCP keeps flowing but video RTP stops; the
// watchdog fires after MediaTimeout.
func TestMediaTimeout(t *testing.T) {
	h := streamer(script{}, 20*time.Millisecond, func(i int) string {
		if i < 5 {
			return rtpFrame(0, uint16(i), 1)
		}
		return srFrame(1, 1) + frame(9, []byte("stray")) + rtpFrame(0, uint16(i), 0xBAD) // not the announced SSRC
	})
	s, _ := openFake(t, func(c *fakeConn, r *fakeReq) bool {
		if r.method == "SETUP" {
			c.send("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=00000001\r\nSession: 1\r\n\r\n")
			return true
		}
		return h(c, r)
	}, Config{MediaTimeout: 400 * time.Millisecond})
	start := time.Now()
	n := 0
	err := s.ReadPackets(context.Background(), func(*rtp.Packet) error { n++; return nil })
	var e *Error
	if !errors.As(err, &e) || e.Step != "read" || !errors.Is(err, ErrMediaTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("fired after %v", d)
	}
	if st := s.Stats(); n != 5 || st.RTCPPackets == 0 || st.DroppedWrongSSRC == 0 {
		t.Errorf("n=%d stats=%+v", n, st)
	}
}

// TestServerCloses (F1-style): EOF mid-stream ends ReadPackets with
// ErrClosed after the packets that arrived.
func TestServerCloses(t *testing.T) {
	s, _ := openFake(t, script{afterPlay: rtpFrame(0, 1, 1) + rtpFrame(0, 2, 1), closePlay: true}.handler(), Config{})
	n := 0
	err := s.ReadPackets(context.Background(), func(*rtp.Packet) error { n++; return nil })
	if !errors.Is(err, ErrClosed) || n != 2 {
		t.Fatalf("err = %v after %d packets", err, n)
	}
	// A frame cut off mid-way is ErrClosed too.
	s2, _ := openFake(t, script{afterPlay: rtpFrame(0, 1, 1)[:10], closePlay: true}.handler(), Config{})
	if err := s2.ReadPackets(context.Background(), func(*rtp.Packet) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("truncated frame: %v", err)
	}
}

// TestCallbackError: fn's error is returned as is.
func TestCallbackError(t *testing.T) {
	s, _ := openFake(t, script{afterPlay: rtpFrame(0, 1, 1)}.handler(), Config{})
	stop := errors.New("enough")
	if err := s.ReadPackets(context.Background(), func(*rtp.Packet) error { return stop }); err != stop {
		t.Fatalf("err = %v", err)
	}
}

// TestCancelAndClose (F4): cancelling ctx ends ReadPackets promptly; Close
// from another goroutine does too, sends TEARDOWN and leaves no goroutine.
func TestCancelAndClose(t *testing.T) {
	base := runtime.NumGoroutine()
	s, srv := openFake(t, script{}.handler(), Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := s.ReadPackets(ctx, func(*rtp.Packet) error { return nil })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second { // the media timeout is far longer
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}

	done := make(chan error)
	go func() { done <- s.ReadPackets(context.Background(), func(*rtp.Packet) error { return nil }) }()
	// Wait until the goroutine's ReadPackets holds the session (a loaded
	// machine may take a while to start it); a second call is then refused.
	for deadline := time.Now().Add(3 * time.Second); s.readMu.TryLock(); {
		s.readMu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the concurrent ReadPackets did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.ReadPackets(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("concurrent ReadPackets: %v", err)
	}
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadPackets after Close = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not end ReadPackets")
	}
	if r := srv.find("TEARDOWN"); len(r) != 1 {
		t.Errorf("TEARDOWN sent %d times", len(r))
	}
	s.Close() // idempotent
	if err := s.ReadPackets(context.Background(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadPackets after Close = %v", err)
	}
	srv.close()
	waitGoroutines(t, base)
}

// TestKeepaliveOptionsFallback (F3): the server's Public lacks
// GET_PARAMETER and it drops the connection on that method, with a 1 s
// session timeout: the client keeps the session with OPTIONS and sends
// receiver reports.
func TestKeepaliveOptionsFallback(t *testing.T) {
	sc := script{
		dropOn: "GET_PARAMETER",
		replies: map[string]string{
			"OPTIONS": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n",
			"SETUP":   "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 77;timeout=1\r\n\r\n",
		},
	}
	h := streamer(sc, 20*time.Millisecond, func(i int) string { return rtpFrame(0, uint16(i), 1) })
	s, srv := openFake(t, h, Config{})
	s.rrInterval = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	defer cancel()
	err := s.ReadPackets(ctx, func(*rtp.Packet) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadPackets = %v", err)
	}
	opts := srv.find("OPTIONS")
	if len(opts) < 3 || len(srv.find("GET_PARAMETER")) != 0 {
		t.Fatalf("OPTIONS %d, GET_PARAMETER %d", len(opts), len(srv.find("GET_PARAMETER")))
	}
	// SETUP said 77, PLAY's reply said 1234ABCD: the latest id wins.
	if opts[len(opts)-1].session != "1234ABCD" {
		t.Errorf("keepalive without Session: %+v", opts[len(opts)-1])
	}
	if st := s.Stats(); st.KeepalivesSent < 2 {
		t.Errorf("stats = %+v", st)
	}
	srv.mu.Lock()
	rrs := 0
	for _, f := range srv.frames {
		if f.Channel == 1 && len(f.Payload) >= 8 && f.Payload[1] == 201 {
			rrs++
		}
	}
	srv.mu.Unlock()
	if rrs < 3 {
		t.Errorf("receiver reports = %d", rrs)
	}
}

// TestOutOfBandSDP: with Config.SDP and SkipOptions only SETUP and PLAY are
// sent, and the keepalive is OPTIONS (methods unknown).
func TestOutOfBandSDP(t *testing.T) {
	sdpText := strings.Replace(testSDP, "a=control:trackID=1", "a=control:rtsp://HOSTPORT/oob/video", 1)
	srv := startFake(t, script{afterPlay: rtpFrame(0, 1, 1)}.handler())
	sdpText = strings.Replace(sdpText, "HOSTPORT", srv.addr, 1)
	s, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam", SDP: []byte(sdpText), SkipOptions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var methods []string
	for _, r := range srv.requests() {
		methods = append(methods, r.method)
	}
	if strings.Join(methods, ",") != "SETUP,PLAY" {
		t.Fatalf("requests = %v", methods)
	}
	if s.Info().Methods != nil || s.keepaliveMethod != "OPTIONS" {
		t.Errorf("methods %v keepalive %s", s.Info().Methods, s.keepaliveMethod)
	}
	if r := srv.find("SETUP"); r[0].url != "rtsp://"+srv.addr+"/oob/video" {
		t.Errorf("SETUP url = %q", r[0].url)
	}
}

// TestWrongAnnouncementAdopted: a camera whose SETUP announces one SSRC and
// whose SDP names one payload type, but which sends only another of each,
// still records once adoptAfter has passed; a camera that sends the
// announced SSRC at all keeps its filter (TestCameraQuirks, F4).
func TestWrongAnnouncementAdopted(t *testing.T) {
	sc := script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=11111111\r\nSession: 1\r\n\r\n"}}
	h := streamer(sc, 10*time.Millisecond, func(i int) string {
		return frame(0, rtpBytes(97, uint16(i), 0, 0x2222, 10))
	})
	s, _ := openFake(t, h, Config{})
	s.adoptAfter = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := 0
	err := s.ReadPackets(ctx, func(p *rtp.Packet) error {
		if p.SSRC != 0x2222 || p.PayloadType != 97 {
			t.Errorf("packet %+v", p.Header)
		}
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if st := s.Stats(); st.DroppedWrongSSRC == 0 {
		t.Errorf("stats = %+v", st)
	}
}
