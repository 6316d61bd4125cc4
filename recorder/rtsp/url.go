package rtsp

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// defaultPort is the RTSP port of RFC 2326 §3.2.
const defaultPort = "554"

// cameraURL is a parsed camera URL: the request URL without credentials
// (what goes on the wire), the host:port to dial, and the decoded
// credentials.
type cameraURL struct {
	reqURL   string // rtsp://host[:port]/path?query, no userinfo
	hostPort string
	host     string // scheme://host[:port], for resolving absolute paths
	user     string
	pass     string
	hasCreds bool
}

// errBadURL never includes the URL itself: net/url errors quote it, password
// and all.
var errBadURL = errors.New("invalid camera URL (want rtsp://[user:pass@]host[:port]/path)")

func parseCameraURL(raw string) (cameraURL, error) {
	raw = strings.TrimSpace(fixDoubleScheme(raw))
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "rtsp") || u.Host == "" {
		return cameraURL{}, errBadURL
	}
	var c cameraURL
	if u.User != nil {
		c.user = u.User.Username() // already percent-decoded by net/url
		c.pass, _ = u.User.Password()
		c.hasCreds = true
		u.User = nil
	}
	u.Scheme = "rtsp"
	u.Fragment = ""
	u.RawFragment = ""
	c.reqURL = u.String()
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	c.hostPort = net.JoinHostPort(u.Hostname(), port)
	c.host = "rtsp://" + u.Host
	return c, nil
}

// fixDoubleScheme repairs "rtsp://rtsp://host/..." (seen in Content-Base of
// some cheap cameras and in user-pasted URLs).
func fixDoubleScheme(s string) string {
	for {
		l := strings.ToLower(s)
		if strings.HasPrefix(l, "rtsp://rtsp://") {
			s = s[len("rtsp://"):]
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
		v = "rtsp://" + v
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
