package rtsp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The credential rules of issue 14: a camera's password goes only to the
// scheme, host and port of its URL; a host that offered Digest is never
// answered with Basic; Basic is never sent unasked.

const credsPass = "hunter2-Secret"

// basicOnly is a host that answers every request without credentials with
// a Basic challenge, as an attacker collecting passwords would.
func basicOnly() fakeHandler {
	return func(c *fakeConn, r *fakeReq) bool {
		if r.header.Get("Authorization") == "" {
			c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n")
			return true
		}
		return script{afterPlay: rtpFrame(0, 1, 1)}.handler()(c, r)
	}
}

// redirecting wraps a camera so that DESCRIBE, once authenticated, answers
// 301 to location.
func redirecting(cam fakeHandler, location *string) fakeHandler {
	return func(c *fakeConn, r *fakeReq) bool {
		if r.method == "DESCRIBE" && r.header.Get("Authorization") != "" {
			c.send("RTSP/1.0 301 Moved\r\nCSeq: {cseq}\r\nLocation: " + *location + "\r\n\r\n")
			return true
		}
		return cam(c, r)
	}
}

func noAuthorization(t *testing.T, name string, srv *fakeServer) {
	t.Helper()
	reqs := srv.requests()
	if len(reqs) == 0 {
		t.Fatalf("%s received no request: the redirect was not followed", name)
	}
	for _, r := range reqs {
		if v := r.header.Get("Authorization"); v != "" {
			t.Fatalf("%s received %s with Authorization %q", name, r.method, v)
		}
	}
}

func TestRedirectToAnotherHostWithholdsCredentials(t *testing.T) {
	digestFirst := func() fakeHandler {
		cam := &digestCamera{challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`},
			user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1", "n2"}}
		return cam.handler()
	}
	basicFirst := func() fakeHandler {
		cam := &digestCamera{challenges: []string{`Basic realm="IP Camera"`}, user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1"}}
		return cam.handler()
	}
	cases := []struct {
		name   string
		first  func() fakeHandler
		target string // listen address of the host redirected to
	}{
		{"after Basic, to another host", basicFirst, "127.0.0.2:0"},
		{"after Digest, to another host", digestFirst, "127.0.0.2:0"},
		{"after Basic, same host another port", basicFirst, "127.0.0.1:0"},
		{"after Digest, same host another port", digestFirst, "127.0.0.1:0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			other := startFakeAt(t, tc.target, basicOnly())
			loc := "rtsp://" + other.addr + "/elsewhere"
			cam := startFake(t, redirecting(tc.first(), &loc))
			_, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + cam.addr + "/cam"})
			want := "the camera redirected to " + other.addr + "; credentials are not sent to another host"
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open = %v, want ErrAuth saying %q", err, want)
			}
			if strings.Contains(err.Error(), credsPass) {
				t.Fatalf("error holds the password: %v", err)
			}
			noAuthorization(t, "the other host", other)
		})
	}
}

// A redirect to another path of the same origin keeps the credentials.
func TestRedirectSameOriginKeepsCredentials(t *testing.T) {
	cam := &digestCamera{challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`},
		user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1", "n2"}}
	var srv *fakeServer
	loc := ""
	inner := cam.handler()
	srv = startFake(t, func(c *fakeConn, r *fakeReq) bool {
		if r.method == "DESCRIBE" && strings.HasSuffix(r.url, "/start") && r.header.Get("Authorization") != "" {
			c.send("RTSP/1.0 302 Moved\r\nCSeq: {cseq}\r\nLocation: " + loc + "\r\n\r\n")
			return true
		}
		return inner(c, r)
	})
	loc = "rtsp://" + srv.addr + "/cam"
	s, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + srv.addr + "/start"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	if n := len(srv.find("PLAY")); n != 1 {
		t.Fatalf("PLAY %d times", n)
	}
}

// A loop between the camera and another host: the other host never gets
// credentials, the camera gets them back each time the loop returns to it,
// and the loop ends at maxRedirects.
func TestRedirectLoopBetweenHosts(t *testing.T) {
	var camLoc, otherLoc string
	bounce := func(loc *string) fakeHandler {
		return func(c *fakeConn, r *fakeReq) bool {
			if r.header.Get("Authorization") == "" {
				c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\r\n")
				return true
			}
			c.send("RTSP/1.0 301 Moved\r\nCSeq: {cseq}\r\nLocation: " + *loc + "\r\n\r\n")
			return true
		}
	}
	// The other host redirects without asking for credentials.
	other := startFakeAt(t, "127.0.0.2:0", func(c *fakeConn, r *fakeReq) bool {
		c.send("RTSP/1.0 301 Moved\r\nCSeq: {cseq}\r\nLocation: " + otherLoc + "\r\n\r\n")
		return true
	})
	cam := startFake(t, bounce(&camLoc))
	camLoc = "rtsp://" + other.addr + "/b"
	otherLoc = "rtsp://" + cam.addr + "/a"
	_, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + cam.addr + "/a"})
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("Open = %v, want the redirect limit", err)
	}
	noAuthorization(t, "the other host", other)
	authed := 0
	for _, r := range cam.requests() {
		if r.header.Get("Authorization") != "" {
			authed++
		}
	}
	if authed < 2 {
		t.Fatalf("the camera got credentials %d times, want one per visit", authed)
	}
}

// Within one host: Digest offered first, Basic asked later (a SETUP
// challenged with Basic only) is refused, and no Basic header is ever sent.
func TestNoDowngradeToBasic(t *testing.T) {
	digest := &digestCamera{challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`},
		user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1", "n2"}}
	inner := digest.handler()
	srv := startFake(t, func(c *fakeConn, r *fakeReq) bool {
		if r.method == "SETUP" {
			c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"IP Camera\"\r\n\r\n")
			return true
		}
		return inner(c, r)
	})
	url := "rtsp://admin:" + credsPass + "@" + srv.addr + "/cam"
	_, err := Open(context.Background(), Config{URL: url})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "refusing the downgrade") {
		t.Fatalf("Open = %v, want a refused downgrade", err)
	}
	noBasic(t, srv)

	// Across sessions of one camera: the memory outlives the session. The
	// host offers Digest in the first session and only Basic in the second
	// (a host taken over in between): the second is refused.
	var basicNow atomic.Bool
	fresh := &digestCamera{challenges: digest.challenges, user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1", "n2"}}
	digestH, basicH := fresh.handler(), basicOnly()
	twoFaced := startFake(t, func(c *fakeConn, r *fakeReq) bool {
		if basicNow.Load() {
			return basicH(c, r)
		}
		return digestH(c, r)
	})
	mem := NewAuthMemory()
	url = "rtsp://admin:" + credsPass + "@" + twoFaced.addr + "/cam"
	s, err := Open(context.Background(), Config{URL: url, AuthMemory: mem})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	basicNow.Store(true)
	_, err = Open(context.Background(), Config{URL: url, AuthMemory: mem})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "refusing the downgrade") {
		t.Fatalf("second session: %v", err)
	}
	noBasic(t, twoFaced)
}

func noBasic(t *testing.T, srv *fakeServer) {
	t.Helper()
	for _, r := range srv.requests() {
		if strings.HasPrefix(r.header.Get("Authorization"), "Basic") {
			t.Fatalf("%s sent Basic credentials", r.method)
		}
	}
}

// auth: digest refuses Basic altogether; with a camera offering both it
// answers Digest.
func TestAuthDigestOnly(t *testing.T) {
	basicCam := startFake(t, basicOnly())
	_, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + basicCam.addr + "/cam", Auth: AuthDigest})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "auth: digest refuses it") || strings.Contains(err.Error(), credsPass) {
		t.Fatalf("Open = %v", err)
	}
	noAuthorization(t, "a Basic-only camera with auth: digest", basicCam)

	both := &digestCamera{challenges: []string{`Basic realm="IP Camera"`, `Digest realm="IP Camera", nonce="NONCE"`},
		user: "admin", pass: credsPass, realm: "IP Camera", nonces: []string{"n1"}}
	srv := startFake(t, both.handler())
	s, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + srv.addr + "/cam", Auth: AuthDigest})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	noBasic(t, srv)
	if err := (Config{URL: "rtsp://h/x", Auth: "ntlm"}).Validate(); err == nil || !strings.Contains(err.Error(), "Auth") {
		t.Fatalf("Validate(auth: ntlm) = %v", err)
	}
}

// No pre-emptive Basic: the first request on every connection carries no
// Authorization, even with credentials in the URL.
func TestNoPreemptiveCredentials(t *testing.T) {
	cam := &digestCamera{challenges: []string{`Basic realm="TP-LINK IP-Camera"`}, user: "admin", pass: credsPass, realm: "TP-LINK IP-Camera", nonces: []string{"n1"}}
	srv := startFake(t, cam.handler())
	s, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + srv.addr + "/cam"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	reqs := srv.requests()
	if len(reqs) == 0 || reqs[0].header.Get("Authorization") != "" {
		t.Fatalf("first request carried Authorization: %+v", reqs)
	}
}

// httpOn starts an HTTP server on a loopback address, recording the
// Authorization header of every request.
func httpOn(t *testing.T, addr string, h func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := &[]string{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*seen = append(*seen, r.Header.Get("Authorization"))
		mu.Unlock()
		h(w, r)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, seen
}

// challengeHTTP answers 401 with the challenge until verify accepts the
// Authorization header, then serves the SDP (or redirects to *loc).
func challengeHTTP(challenge string, verify func(r *http.Request) bool, loc *string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if !verify(r) {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if loc != nil && *loc != "" && r.URL.Path == "/start.sdp" {
			http.Redirect(w, r, *loc, http.StatusFound)
			return
		}
		_, _ = w.Write([]byte(testSDP))
	}
}

func TestLoadSDPCredentials(t *testing.T) {
	basicOK := func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "admin" && p == credsPass
	}
	digestCam := &digestCamera{user: "admin", pass: credsPass, realm: "cam", nonces: []string{"n0nce"}}
	digestOK := func(r *http.Request) bool {
		return digestCam.verify(r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"))
	}
	t.Run("Basic answers a challenge, never pre-emptively", func(t *testing.T) {
		srv, seen := httpOn(t, "127.0.0.1:0", challengeHTTP(`Basic realm="cam"`, basicOK, nil))
		b, err := LoadSDP(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:"+credsPass+"@", 1)+"/cam.sdp")
		if err != nil || string(b) != testSDP {
			t.Fatalf("LoadSDP = %q, %v", b, err)
		}
		if len(*seen) != 2 || (*seen)[0] != "" || !strings.HasPrefix((*seen)[1], "Basic ") {
			t.Fatalf("Authorization headers %q, want none then Basic", *seen)
		}
	})
	t.Run("Digest", func(t *testing.T) {
		srv, seen := httpOn(t, "127.0.0.1:0", challengeHTTP(`Digest realm="cam", nonce="n0nce", qop="auth"`, digestOK, nil))
		b, err := LoadSDP(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:"+credsPass+"@", 1)+"/cam.sdp?x=1")
		if err != nil || string(b) != testSDP {
			t.Fatalf("LoadSDP = %q, %v (sent %q)", b, err, *seen)
		}
	})
	for _, target := range []string{"127.0.0.2:0", "127.0.0.1:0"} {
		t.Run("redirect to "+target+" withholds credentials", func(t *testing.T) {
			other, otherSeen := httpOn(t, target, challengeHTTP(`Basic realm="other"`, func(*http.Request) bool { return false }, nil))
			loc := other.URL + "/cam.sdp"
			cam, _ := httpOn(t, "127.0.0.1:0", challengeHTTP(`Digest realm="cam", nonce="n0nce", qop="auth"`, digestOK, &loc))
			_, err := LoadSDP(context.Background(), strings.Replace(cam.URL, "http://", "http://admin:"+credsPass+"@", 1)+"/start.sdp")
			host := strings.TrimPrefix(other.URL, "http://")
			if err == nil || !strings.Contains(err.Error(), "redirected to "+host+"; credentials are not sent to another host") || strings.Contains(err.Error(), credsPass) {
				t.Fatalf("LoadSDP = %v", err)
			}
			if len(*otherSeen) == 0 {
				t.Fatal("redirect not followed")
			}
			for _, a := range *otherSeen {
				if a != "" {
					t.Fatalf("the other host received Authorization %q", a)
				}
			}
		})
	}
	t.Run("redirect within the origin keeps credentials", func(t *testing.T) {
		loc := "/cam.sdp"
		cam, seen := httpOn(t, "127.0.0.1:0", challengeHTTP(`Basic realm="cam"`, basicOK, &loc))
		b, err := LoadSDP(context.Background(), strings.Replace(cam.URL, "http://", "http://admin:"+credsPass+"@", 1)+"/start.sdp")
		if err != nil || string(b) != testSDP {
			t.Fatalf("LoadSDP = %q, %v (sent %q)", b, err, *seen)
		}
	})
}

// A keepalive challenged with Basic only, on a session that authenticated
// with Digest, is not answered with Basic: the handshake's rule holds for
// the whole session.
func TestKeepaliveNoDowngradeToBasic(t *testing.T) {
	stream := streamer(script{replies: map[string]string{
		"GET_PARAMETER": "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n",
		"SETUP":         "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 77;timeout=1\r\n\r\n",
	}}, 20*time.Millisecond, func(i int) string { return rtpFrame(0, uint16(i), 1) })
	h := func(c *fakeConn, r *fakeReq) bool {
		if r.method != "GET_PARAMETER" && !strings.HasPrefix(r.header.Get("Authorization"), "Digest ") {
			c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n\r\n")
			return true
		}
		return stream(c, r)
	}
	srv := startFake(t, h)
	s, err := Open(context.Background(), Config{URL: "rtsp://admin:" + credsPass + "@" + srv.addr + "/cam", MediaTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Keepalives go at half the 1 s session timeout: two of them (the
	// second after the first was challenged) well within 3 s, even on a
	// loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.ReadPackets(ctx, func(*rtp.Packet) error {
		if len(srv.find("GET_PARAMETER")) >= 2 {
			return errors.New("seen enough")
		}
		return nil
	})
	if k := len(srv.find("GET_PARAMETER")); k < 2 {
		t.Fatalf("%d keepalives: the test saw no answer to a challenge", k)
	}
	noBasic(t, srv)
}
