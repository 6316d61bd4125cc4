package rtsp

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"testing"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// digestCamera verifies Authorization headers itself, computing the
// expected response from RFC 2617 / RFC 7616 independently of the client.
type digestCamera struct {
	challenges []string // WWW-Authenticate values
	user, pass string
	realm      string
	nonces     []string // the nonce of each challenge round; stale=true rotates
	staleOnce  bool     // answer the first good credential with stale=true
	mu         sync.Mutex
	round      int
	staled     bool
	seen       []string // Authorization headers received
}

func hexHash(newH func() hash.Hash, s string) string {
	h := newH()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func (d *digestCamera) verify(method, uri, authz string) bool {
	if strings.HasPrefix(authz, "Basic ") {
		want := base64.StdEncoding.EncodeToString([]byte(d.user + ":" + d.pass))
		return strings.TrimPrefix(authz, "Basic ") == want && strings.Contains(strings.Join(d.challenges, " "), "Basic")
	}
	if !strings.HasPrefix(authz, "Digest ") {
		return false
	}
	p, _ := rtspmsg.ParseAuthParams(strings.TrimPrefix(authz, "Digest "))
	newH := md5.New
	if strings.EqualFold(p["algorithm"], "SHA-256") {
		newH = sha256.New
	}
	if p["username"] != d.user || p["realm"] != d.realm || p["uri"] != uri || p["nonce"] != d.nonces[d.round] {
		return false
	}
	ha1 := hexHash(newH, d.user+":"+d.realm+":"+d.pass)
	ha2 := hexHash(newH, method+":"+uri)
	var want string
	if p["qop"] == "auth" {
		want = hexHash(newH, ha1+":"+p["nonce"]+":"+p["nc"]+":"+p["cnonce"]+":auth:"+ha2)
	} else {
		want = hexHash(newH, ha1+":"+p["nonce"]+":"+ha2)
	}
	return p["response"] == want
}

func (d *digestCamera) handler() fakeHandler {
	base := script{afterPlay: rtpFrame(0, 1, 1)}.handler()
	return func(c *fakeConn, r *fakeReq) bool {
		d.mu.Lock()
		authz := r.header.Get("Authorization")
		d.seen = append(d.seen, authz)
		ok := d.verify(r.method, r.url, authz)
		if ok && d.staleOnce && !d.staled {
			d.staled = true
			d.round++
			ch := strings.Replace(d.challenges[0], "NONCE", d.nonces[d.round], 1) + `, stale=true`
			d.mu.Unlock()
			c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: " + ch + "\r\n\r\n")
			return true
		}
		var hdrs string
		for _, ch := range d.challenges {
			hdrs += "WWW-Authenticate: " + strings.Replace(ch, "NONCE", d.nonces[d.round], 1) + "\r\n"
		}
		d.mu.Unlock()
		if !ok {
			c.send("RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n" + hdrs + "\r\n")
			return true
		}
		return base(c, r)
	}
}

func TestAuthVariants(t *testing.T) {
	cases := []struct {
		name       string
		challenges []string
		staleOnce  bool
		pass       string // what the client uses; the camera expects "pa:ss w@rd"
		wantErr    error
		wantScheme string // prefix of the accepted Authorization
	}{
		{name: "Digest MD5 qop=auth", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "Digest MD5 RFC 2069 (no qop, Dahua/IMOU)", challenges: []string{`Digest realm="IP Camera", nonce="NONCE"`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "Digest qop list auth,auth-int, opaque, algorithm=MD5", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth,auth-int", opaque="xyz", algorithm=MD5`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "Digest SHA-256 only firmware", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", algorithm=SHA-256, qop="auth"`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "Basic only realm (TP-Link)", challenges: []string{`Basic realm="TP-LINK IP-Camera"`}, wantScheme: "Basic", pass: "pa:ss w@rd"},
		{name: "strongest offered wins", challenges: []string{`Basic realm="IP Camera"`, `Digest realm="IP Camera", nonce="NONCE"`, `Digest realm="IP Camera", nonce="NONCE", algorithm=SHA-256`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "two challenges in one header", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", Basic realm="IP Camera"`}, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "stale nonce is retried", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`}, staleOnce: true, wantScheme: "Digest", pass: "pa:ss w@rd"},
		{name: "wrong password", challenges: []string{`Digest realm="IP Camera", nonce="NONCE", qop="auth"`}, pass: "nope-nope", wantErr: ErrAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cam := &digestCamera{challenges: tc.challenges, user: "adm in", pass: "pa:ss w@rd", realm: "IP Camera",
				nonces: []string{"n0nce-1", "n0nce-2"}, staleOnce: tc.staleOnce}
			if strings.Contains(tc.challenges[0], "TP-LINK") {
				cam.realm = "TP-LINK IP-Camera"
			}
			srv := startFake(t, cam.handler())
			url := "rtsp://adm%20in:" + strings.NewReplacer(":", "%3A", " ", "%20", "@", "%40").Replace(tc.pass) + "@" + srv.addr + "/cam"
			s, err := Open(context.Background(), Config{URL: url})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || strings.Contains(err.Error(), tc.pass) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v (Authorization sent: %q)", err, cam.seen)
			}
			s.Close()
			last := cam.seen[len(cam.seen)-1]
			if !strings.HasPrefix(last, tc.wantScheme) {
				t.Errorf("Authorization = %q", last)
			}
			if tc.name == "strongest offered wins" && !strings.Contains(last, "SHA-256") {
				t.Errorf("did not pick SHA-256: %q", last)
			}
			if tc.staleOnce && !cam.staled {
				t.Errorf("stale path not exercised")
			}
			// Every request after the first challenge carries credentials.
			for _, r := range srv.requests()[2:] {
				if r.header.Get("Authorization") == "" {
					t.Errorf("%s without Authorization", r.method)
				}
			}
		})
	}
}

func TestDigestNonceCount(t *testing.T) {
	a := newAuthenticator("u", "p", parseChallenges([]string{`Digest realm="r", nonce="n", qop="auth"`}))
	a.cnonce = func() string { return "c" }
	h1, h2 := a.header("DESCRIBE", "rtsp://h/x"), a.header("SETUP", "rtsp://h/x/t")
	if !strings.Contains(h1, "nc=00000001") || !strings.Contains(h2, "nc=00000002") {
		t.Fatalf("nc not incremented: %q %q", h1, h2)
	}
	// RFC 2617 §3.5 example, adapted: fixed inputs give a fixed answer.
	b := newAuthenticator("Mufasa", "Circle Of Life", parseChallenges([]string{
		`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`}))
	b.cnonce = func() string { return "0a4f113b" }
	got := b.header("GET", "/dir/index.html")
	if !strings.Contains(got, `response="6629fae49393a05397450978507c4ef1"`) {
		t.Fatalf("RFC 2617 example: %s", got)
	}
}
