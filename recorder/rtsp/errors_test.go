package rtsp

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOpenErrors(t *testing.T) {
	mp4vSDP := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 MP4V-ES/90000\r\na=control:trackID=1\r\n" +
		"m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:trackID=2\r\n"
	clock0SDP := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\na=control:trackID=1\r\n"
	manyHeaders := "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n" + strings.Repeat("X-Pad: 1\r\n", 10000) + "\r\n"
	cases := []struct {
		name     string
		sc       script
		cfg      Config
		wantStep string
		wantKind error
		wantText string // in Error()
		check    func(t *testing.T, srv *fakeServer)
	}{
		{name: "404", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 404 Stream Not Found\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrNotFound, wantText: "404"},
		{name: "401 without credentials", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrAuth},
		{name: "403", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 403 Forbidden\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrAuth},
		{name: "no H.264 or H.265 track", sc: script{replies: map[string]string{"DESCRIBE": describeReply(mp4vSDP, "")}},
			wantStep: "DESCRIBE", wantKind: ErrNoH264, wantText: "no H.264 or H.265 video track (stream has: video MP4V-ES, audio PCMA)"},
		{name: "H264/0 clock rate (R13)", sc: script{replies: map[string]string{"DESCRIBE": describeReply(clock0SDP, "")}},
			wantStep: "DESCRIBE", wantKind: ErrNoH264, wantText: "clock rate 0"},
		{name: "empty SDP", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrProtocol},
		{name: "SETUP 461 unsupported transport", sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "SETUP", wantKind: ErrProtocol, wantText: "461"},
		{name: "SETUP without Session", sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n"}},
			wantStep: "SETUP", wantKind: ErrProtocol},
		{name: "SETUP answered with UDP", sc: script{replies: map[string]string{"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\nSession: 1\r\n\r\n"}},
			wantStep: "SETUP", wantKind: ErrProtocol},
		{name: "PLAY fails: what was set up is torn down", sc: script{replies: map[string]string{"PLAY": "RTSP/1.0 500 Internal Server Error\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "PLAY", wantKind: ErrProtocol, wantText: "500",
			check: func(t *testing.T, srv *fakeServer) {
				if r := srv.find("TEARDOWN"); len(r) != 1 || r[0].session != "1234ABCD" {
					t.Errorf("TEARDOWN = %+v", r)
				}
			}},
		{name: "server closes after DESCRIBE", sc: script{dropOn: "SETUP"}, wantStep: "SETUP", wantKind: ErrClosed},
		{name: "Content-Length -1 (R1)", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: -1\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrProtocol, wantText: "Content-Length"},
		{name: "Content-Length 1e12 (R1)", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: 1000000000000\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrProtocol, wantText: "Content-Length"},
		{name: "Content-Length non-numeric (R1)", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: abc\r\n\r\n"}},
			wantStep: "DESCRIBE", wantKind: ErrProtocol, wantText: "Content-Length"},
		{name: "10k headers (R2)", sc: script{replies: map[string]string{"OPTIONS": manyHeaders}},
			wantStep: "OPTIONS", wantKind: ErrProtocol, wantText: "header lines"},
		{name: "100 KB header name (R2)", sc: script{replies: map[string]string{"OPTIONS": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n" + strings.Repeat("X", 100<<10) + ": 1\r\n\r\n"}},
			wantStep: "OPTIONS", wantKind: ErrProtocol, wantText: "line longer"},
		{name: "folded header line (R2)", sc: script{replies: map[string]string{"OPTIONS": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS,\r\n DESCRIBE\r\n\r\n"}},
			wantStep: "OPTIONS", wantKind: ErrProtocol, wantText: "folded"},
		{name: "status line garbage", sc: script{replies: map[string]string{"OPTIONS": "RTSP/1.0 2x0 OK\r\nCSeq: {cseq}\r\n\r\n"}},
			wantStep: "OPTIONS", wantKind: ErrProtocol},
		{name: "headers never end (R3)", sc: script{replies: map[string]string{"OPTIONS": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"}},
			cfg: Config{ResponseTimeout: 300 * time.Millisecond}, wantStep: "OPTIONS", wantKind: ErrTimeout},
		{name: "silent server (R4)", sc: script{replies: map[string]string{"OPTIONS": ""}},
			cfg: Config{ResponseTimeout: 300 * time.Millisecond}, wantStep: "OPTIONS", wantKind: ErrTimeout},
		{name: "wrong credentials, Digest retried once", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"cam\", nonce=\"abc\"\r\n\r\n"}},
			cfg: Config{URL: "rtsp://admin:hunter2@{addr}/cam"}, wantStep: "DESCRIBE", wantKind: ErrAuth,
			check: func(t *testing.T, srv *fakeServer) {
				if n := len(srv.find("DESCRIBE")); n != 2 {
					t.Errorf("DESCRIBE sent %d times, want 2", n)
				}
			}},
		{name: "unsupported auth scheme", sc: script{replies: map[string]string{"DESCRIBE": "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Negotiate\r\n\r\n"}},
			cfg: Config{URL: "rtsp://admin:hunter2@{addr}/cam"}, wantStep: "DESCRIBE", wantKind: ErrAuth},
		{name: "an HTTP server", sc: script{replies: map[string]string{"OPTIONS": "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"}},
			wantStep: "OPTIONS", wantKind: ErrProtocol, wantText: "not an RTSP server"},
		{name: "bad transport name", cfg: Config{Transport: "sctp"}, wantStep: "connect", wantKind: ErrProtocol},
		{name: "bad URL never echoes the password", cfg: Config{URL: "http://admin:hunter2@{addr}/cam"}, wantStep: "connect", wantKind: ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, tc.sc.handler())
			base := runtime.NumGoroutine()
			cfg := tc.cfg
			if cfg.URL == "" {
				cfg.URL = "rtsp://{addr}/cam"
			}
			cfg.URL = strings.ReplaceAll(cfg.URL, "{addr}", srv.addr)
			start := time.Now()
			s, err := Open(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var e *Error
			if !errors.As(err, &e) || e.Step != tc.wantStep || !errors.Is(err, tc.wantKind) {
				t.Fatalf("err = %v (%#v), want step %s kind %v", err, err, tc.wantStep, tc.wantKind)
			}
			if !strings.Contains(err.Error(), tc.wantText) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Error() = %q, want it to contain %q, one line, no password", err.Error(), tc.wantText)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.check != nil {
				tc.check(t, srv)
			}
			waitGoroutines(t, base)
		})
	}
}

func TestConnectErrors(t *testing.T) {
	// A closed port on loopback: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = Open(context.Background(), Config{URL: "rtsp://u:hunter2@" + closed + "/x"})
	var e *Error
	if !errors.As(err, &e) || e.Step != "connect" || !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("closed port: %v", err)
	}

	// The caller's context ends during the handshake: the context error.
	silent := startFake(t, script{replies: map[string]string{"OPTIONS": ""}}.handler())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, Config{URL: "rtsp://" + silent.addr + "/x"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled Open: %v after %v", err, time.Since(start))
	}
}

// TestRedirect: 3xx with Location is followed (RFC 2326 §11.3), at most
// maxRedirects times, keeping the credentials of the original URL.
func TestRedirect(t *testing.T) {
	target := startFake(t, script{afterPlay: rtpFrame(0, 1, 1)}.handler())
	hop := startFake(t, script{replies: map[string]string{
		"DESCRIBE": "RTSP/1.0 302 Moved\r\nCSeq: {cseq}\r\nLocation: rtsp://" + target.addr + "/cam\r\n\r\n"}}.handler())
	s, err := Open(context.Background(), Config{URL: "rtsp://" + hop.addr + "/start"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(target.find("SETUP")) != 1 || len(hop.find("SETUP")) != 0 {
		t.Fatalf("SETUP went to the wrong server")
	}

	var loop *fakeServer
	loop = startFake(t, func(c *fakeConn, r *fakeReq) bool {
		c.send("RTSP/1.0 301 Moved\r\nCSeq: {cseq}\r\nLocation: rtsp://" + loop.addr + "/again\r\n\r\n")
		return true
	})
	_, err = Open(context.Background(), Config{URL: "rtsp://" + loop.addr + "/start"})
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	if n := len(loop.find("OPTIONS")); n != maxRedirects+1 {
		t.Errorf("followed %d hops, want %d", n-1, maxRedirects)
	}
}
