package rtsp

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// challenge is one WWW-Authenticate challenge (RFC 7235 §2.1).
type challenge struct {
	scheme string // lower-cased: "basic", "digest"
	params map[string]string
}

// parseChallenges parses every WWW-Authenticate header value. A value may
// hold several comma-separated challenges; a token not followed by '='
// starts a new one (rtspmsg.ParseAuthParams stops there).
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		s := strings.TrimSpace(v)
		for s != "" {
			scheme, rest, _ := strings.Cut(s, " ")
			scheme = strings.TrimRight(scheme, ",")
			c := challenge{scheme: strings.ToLower(scheme)}
			c.params, s = rtspmsg.ParseAuthParams(strings.TrimSpace(rest))
			if c.scheme != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// authenticator computes Authorization headers for one server.
type authenticator struct {
	user, pass string
	digest     bool
	realm      string
	nonce      string
	opaque     string
	algorithm  string // as the server wrote it; "" when it sent none
	qop        string // "auth" or "" (RFC 2069 style)
	sha256     bool
	nc         uint32
	cnonce     func() string
}

// digestStrength ranks what we can answer; 0 means unsupported.
func digestStrength(c challenge) int {
	switch c.scheme {
	case "digest":
		switch strings.ToUpper(c.params["algorithm"]) {
		case "SHA-256":
			return 3
		case "", "MD5":
			return 2
		}
		return 0
	case "basic":
		return 1
	}
	return 0
}

// newAuthenticator picks the strongest challenge we can answer: Digest
// SHA-256 (firmware that offers only SHA-256), then Digest MD5, then Basic
// (TP-Link realms that offer only Basic). It returns nil when none fits.
func newAuthenticator(user, pass string, cs []challenge) *authenticator {
	best, bestRank := challenge{}, 0
	for _, c := range cs {
		if r := digestStrength(c); r > bestRank {
			best, bestRank = c, r
		}
	}
	if bestRank == 0 {
		return nil
	}
	a := &authenticator{user: user, pass: pass, cnonce: randomHex}
	if best.scheme == "digest" {
		a.digest = true
		a.realm = best.params["realm"]
		a.nonce = best.params["nonce"]
		a.opaque = best.params["opaque"]
		a.algorithm = best.params["algorithm"]
		a.sha256 = strings.EqualFold(a.algorithm, "SHA-256")
		// qop is a list ("auth,auth-int"); we answer "auth" when offered,
		// else fall back to the RFC 2069 form (no qop, nc or cnonce) that
		// older Dahua/IMOU firmware expects.
		for q := range strings.SplitSeq(best.params["qop"], ",") {
			if strings.EqualFold(strings.TrimSpace(q), "auth") {
				a.qop = "auth"
			}
		}
	}
	return a
}

func (a *authenticator) h(s string) string {
	var hh hash.Hash
	if a.sha256 {
		hh = sha256.New()
	} else {
		hh = md5.New()
	}
	hh.Write([]byte(s))
	return hex.EncodeToString(hh.Sum(nil))
}

// header returns the Authorization value for a request (RFC 2617 §3.2.2,
// RFC 7616 §3.4 for SHA-256).
func (a *authenticator) header(method, uri string) string {
	if !a.digest {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.user+":"+a.pass))
	}
	ha1 := a.h(a.user + ":" + a.realm + ":" + a.pass)
	ha2 := a.h(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`,
		quoteEscape(a.user), quoteEscape(a.realm), quoteEscape(a.nonce), quoteEscape(uri))
	var resp string
	if a.qop != "" {
		a.nc++
		nc := fmt.Sprintf("%08x", a.nc)
		cn := a.cnonce()
		resp = a.h(ha1 + ":" + a.nonce + ":" + nc + ":" + cn + ":" + a.qop + ":" + ha2)
		fmt.Fprintf(&b, `, response="%s", qop=%s, nc=%s, cnonce="%s"`, resp, a.qop, nc, cn)
	} else {
		resp = a.h(ha1 + ":" + a.nonce + ":" + ha2)
		fmt.Fprintf(&b, `, response="%s"`, resp)
	}
	if a.opaque != "" {
		fmt.Fprintf(&b, `, opaque="%s"`, quoteEscape(a.opaque))
	}
	if a.algorithm != "" {
		fmt.Fprintf(&b, `, algorithm=%s`, a.algorithm)
	}
	return b.String()
}

func quoteEscape(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isStale reports whether a 401 carries a Digest challenge with stale=true:
// the password was right, the nonce expired (RFC 2617 §3.2.1).
func isStale(cs []challenge) bool {
	for _, c := range cs {
		if c.scheme == "digest" && strings.EqualFold(c.params["stale"], "true") {
			return true
		}
	}
	return false
}

// Values of Config.Auth.
const (
	AuthAny    = "any"    // the strongest scheme offered: Digest SHA-256, Digest MD5, Basic
	AuthDigest = "digest" // Digest only: a Basic challenge is refused
)

// AuthMemory remembers which origins (scheme, host, port) offered Digest.
// Once one has, a later Basic-only challenge from it is a downgrade — the
// password in the clear to whoever now answers for that host — and is
// refused. One AuthMemory serves the sessions of one camera; it is safe for
// concurrent use.
type AuthMemory struct {
	mu     sync.Mutex
	digest map[string]bool
}

// NewAuthMemory returns an empty memory.
func NewAuthMemory() *AuthMemory { return &AuthMemory{digest: map[string]bool{}} }

// choose picks the authenticator for a 401 from u's origin under mode
// (AuthAny or AuthDigest), refusing Basic where policy or memory forbid it.
// Basic is only ever answered to a challenge, never sent pre-emptively.
func (m *AuthMemory) choose(u cameraURL, mode string, cs []challenge) (*authenticator, error) {
	offersDigest, offersBasic := false, false
	for _, c := range cs {
		switch {
		case c.scheme == "digest" && digestStrength(c) > 0:
			offersDigest = true
		case c.scheme == "basic":
			offersBasic = true
		}
	}
	m.mu.Lock()
	if m.digest == nil {
		m.digest = map[string]bool{}
	}
	if offersDigest {
		m.digest[u.origin] = true
	}
	sawDigest := m.digest[u.origin]
	m.mu.Unlock()
	if !offersDigest && offersBasic {
		switch {
		case mode == AuthDigest:
			return nil, errors.New("the server asks for Basic authentication and auth: digest refuses it")
		case sawDigest:
			return nil, errors.New("the server offered Digest before and now asks for Basic; refusing the downgrade")
		}
	}
	if mode == AuthDigest || sawDigest {
		cs = slices.DeleteFunc(slices.Clone(cs), func(c challenge) bool { return c.scheme == "basic" })
	}
	a := newAuthenticator(u.user, u.pass, cs)
	if a == nil {
		return nil, errors.New("no supported authentication scheme offered")
	}
	return a, nil
}
