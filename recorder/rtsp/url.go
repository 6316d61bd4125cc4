package rtsp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Default ports: RTSP of RFC 2326 §3.2, RTSP over TLS of RFC 7826 §19.2
// (UniFi Protect and others name theirs, 7441, in the URL).
const (
	defaultPort    = "554"
	defaultTLSPort = "322"
)

// cameraURL is a parsed camera URL: the request URL without credentials
// (what goes on the wire), the host:port to dial, and the decoded
// credentials.
type cameraURL struct {
	reqURL     string // rtsp[s]://host[:port]/path?query, no userinfo
	hostPort   string
	serverName string // the host without port or brackets, for TLS
	host       string // scheme://host[:port], for resolving absolute paths
	origin     string // scheme://host:port, lower case, port explicit: where credentials may go
	tls        bool   // rtsps: RTSP over TLS
	user       string
	pass       string
	hasCreds   bool
	// withheld is set on a redirect target of another origin when the
	// camera URL had credentials: they were not carried over, and a
	// challenge from this host is answered with an error that says so.
	withheld bool
}

// errBadURL never includes the URL itself: net/url errors quote it, password
// and all.
var errBadURL = errors.New("invalid camera URL (want rtsp:// or rtsps://[user:pass@]host[:port]/path)")

func parseCameraURL(raw string) (cameraURL, error) {
	raw = strings.TrimSpace(fixDoubleScheme(raw))
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return cameraURL{}, errBadURL
	}
	var c cameraURL
	u.Scheme = strings.ToLower(u.Scheme)
	port := u.Port()
	switch u.Scheme {
	case "rtsp":
		if port == "" {
			port = defaultPort
		}
	case "rtsps":
		c.tls = true
		if port == "" {
			port = defaultTLSPort
		}
	default:
		return cameraURL{}, errBadURL
	}
	c.split(u, port)
	return c, nil
}

// split fills c from a parsed URL whose scheme is lower case, with port
// the explicit or default port: credentials out of the URL, the request
// URL without them, where to dial and the origin credentials may go to.
func (c *cameraURL) split(u *url.URL, port string) {
	if u.User != nil {
		c.user = u.User.Username() // already percent-decoded by net/url
		c.pass, _ = u.User.Password()
		c.hasCreds = true
		u.User = nil
	}
	u.Fragment = ""
	u.RawFragment = ""
	c.reqURL = u.String()
	c.serverName = u.Hostname()
	c.hostPort = net.JoinHostPort(c.serverName, port)
	c.host = u.Scheme + "://" + u.Host
	c.origin = u.Scheme + "://" + strings.ToLower(c.hostPort)
}

// fixDoubleScheme repairs "rtsp://rtsp://host/..." (seen in Content-Base of
// some cheap cameras and in user-pasted URLs).
func fixDoubleScheme(s string) string {
	for {
		l := strings.ToLower(s)
		if strings.HasPrefix(l, "rtsp://rtsp://") || strings.HasPrefix(l, "rtsp://rtsps://") {
			s = s[len("rtsp://"):]
			continue
		}
		if strings.HasPrefix(l, "rtsps://rtsps://") {
			s = s[len("rtsps://"):]
			continue
		}
		return s
	}
}

// stripUserinfo removes credentials from a URL the server sent back to us
// (some servers echo the request URL, userinfo included, in Content-Base).
func stripUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return s[:i+3] + rest[at+1:]
	}
	// A password with an unescaped '/' pushes the '@' past the first '/'.
	if at := strings.LastIndex(rest, "@"); at >= 0 && strings.Contains(rest[:at], ":") && !strings.ContainsAny(rest[:at], "?") {
		return s[:i+3] + rest[at+1:]
	}
	return s
}

// baseURL picks the base for relative control URLs: Content-Base, then
// Content-Location, then the request URL (RFC 2326 §C.1.1).
func baseURL(req cameraURL, contentBase, contentLocation string) string {
	for _, v := range []string{contentBase, contentLocation} {
		// Trailing space in Content-Base: seen on several OEM firmwares.
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		return normaliseAbsolute(req, v)
	}
	return req.reqURL
}

// normaliseAbsolute turns a server-supplied URL into an absolute rtsp URL
// without credentials.
func normaliseAbsolute(req cameraURL, v string) string {
	v = fixDoubleScheme(strings.TrimSpace(v))
	l := strings.ToLower(v)
	switch {
	case strings.HasPrefix(l, "rtsp://"), strings.HasPrefix(l, "rtsps://"):
	case strings.HasPrefix(v, "/"):
		v = req.host + v
	case strings.Contains(v, "://"):
		// Another scheme (http://...): keep it, the server will judge.
	default:
		// Anjvision: Content-Base without a scheme, "192.168.1.10:554/live/".
		// Such a server speaks the scheme we reached it by.
		scheme, _, _ := strings.Cut(req.host, "://")
		v = scheme + "://" + v
	}
	return stripUserinfo(v)
}

// resolveControl resolves an SDP a=control value against the base URL.
// Relative controls are appended to the base with a '/' separator, as
// live555, ffmpeg and the cameras built on them expect, rather than with RFC
// 3986 merging (which would drop the last path segment of a base without a
// trailing slash).
func resolveControl(req cameraURL, base, control string) string {
	control = strings.TrimSpace(control)
	if control == "" || control == "*" {
		return base
	}
	l := strings.ToLower(control)
	if strings.HasPrefix(l, "rtsp://") || strings.HasPrefix(l, "rtsps://") || strings.HasPrefix(control, "/") {
		return normaliseAbsolute(req, control)
	}
	if strings.HasSuffix(base, "/") {
		return base + control
	}
	return base + "/" + control
}

// UserinfoCut reports whether rawURL's user-info is cut short by a '#', '?'
// or '/' typed as is in the password (rtsp://admin:p@ss#1@cam/), and by
// which: net/url ends the authority at the first of them, so part of the
// password becomes the host and the request goes to another machine. It
// looks for an '@' after the first such character and before the next '/';
// a camera path or query holding '@' trips it too, and is fixed the same way
// (percent-encoding, %40).
func UserinfoCut(rawURL string) (byte, bool) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return 0, false
	}
	rest := rawURL[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		return 0, false
	}
	after := rest[end+1:]
	if slash := strings.IndexByte(after, '/'); slash >= 0 {
		after = after[:slash]
	}
	if !strings.Contains(after, "@") {
		return 0, false
	}
	return rest[end], true
}

// UserinfoHint is how to write the characters that cut a user-info.
const UserinfoHint = "percent-encode them in the user name and password: # as %23, ? as %3F, / as %2F, @ as %40, % as %25"

// checkUserinfo returns an error naming the character that cuts rawURL's
// user-info, or nil. It never quotes the URL.
func checkUserinfo(rawURL string) error {
	if c, cut := UserinfoCut(rawURL); cut {
		return fmt.Errorf("the user name or password holds an unescaped %q, which would end it early and send the credentials to the wrong host; %s", c, UserinfoHint)
	}
	return nil
}
