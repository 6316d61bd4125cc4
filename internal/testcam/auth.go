package testcam

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// realm is the authentication realm the camera announces.
const realm = "nvr-testcam"

// challenge returns the WWW-Authenticate value for a 401 (RFC 2617 §1.2).
func (s *Server) challenge() string {
	switch s.opts.Auth {
	case AuthBasic:
		return `Basic realm="` + realm + `"`
	case AuthDigestSHA256:
		return `Digest realm="` + realm + `", nonce="` + s.nonce + `", algorithm=SHA-256, qop="auth"`
	default:
		return `Digest realm="` + realm + `", nonce="` + s.nonce + `", algorithm=MD5, qop="auth"`
	}
}

// authorized checks the request's Authorization header against the
// configured credentials. The comparison is constant-time.
func (s *Server) authorized(r *request) bool {
	if s.opts.Auth == AuthNone {
		return true
	}
	h := r.get("authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch s.opts.Auth {
	case AuthBasic:
		if !strings.EqualFold(scheme, "Basic") {
			return false
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return false
		}
		want := s.opts.Username + ":" + s.opts.Password
		return subtle.ConstantTimeCompare(raw, []byte(want)) == 1
	case AuthDigest, AuthDigestSHA256:
		if !strings.EqualFold(scheme, "Digest") {
			return false
		}
		p, _ := rtspmsg.ParseAuthParams(rest)
		newHash := md5.New
		wantAlg := "MD5"
		if s.opts.Auth == AuthDigestSHA256 {
			newHash, wantAlg = sha256.New, "SHA-256"
		}
		// An absent algorithm means MD5 (RFC 2617 §3.2.2).
		if alg := p["algorithm"]; alg == "" && wantAlg != "MD5" || alg != "" && !strings.EqualFold(alg, wantAlg) {
			return false
		}
		if p["username"] != s.opts.Username || p["realm"] != realm || p["nonce"] != s.nonce || p["uri"] == "" {
			return false
		}
		hx := func(parts ...string) string {
			var h hash.Hash = newHash()
			h.Write([]byte(strings.Join(parts, ":")))
			return hex.EncodeToString(h.Sum(nil))
		}
		ha1 := hx(s.opts.Username, realm, s.opts.Password)
		ha2 := hx(r.Method, p["uri"])
		var want string
		switch p["qop"] {
		case "auth":
			// RFC 2617 §3.2.2.1 with qop=auth.
			want = hx(ha1, p["nonce"], p["nc"], p["cnonce"], "auth", ha2)
		case "":
			// RFC 2069 style without qop: many clients (gortsplib,
			// ffmpeg) answer a qop challenge this way and cameras accept it.
			want = hx(ha1, p["nonce"], ha2)
		default:
			return false
		}
		return subtle.ConstantTimeCompare([]byte(strings.ToLower(p["response"])), []byte(want)) == 1
	}
	return false
}
