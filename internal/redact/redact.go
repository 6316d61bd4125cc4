// Package redact is the one home of nvr's credential redaction (RELIABILITY
// S3): camera URLs, free text that may quote them, and the known secrets of
// one camera. Every package that shows a URL or an error to a person — the
// RTSP client, the recorder, the config loader, the API — redacts through
// here, so the rule, the key list and the placeholder are the same
// everywhere.
//
// The rule errs on the side of hiding: the whole userinfo of a URL is
// replaced (a user name alone can be a token: rtsp://TOKEN@host/), and so is
// the value of every query or path parameter whose key vendors use for
// credentials.
package redact

import (
	"net/url"
	"slices"
	"strings"
)

// Placeholder replaces every secret.
const Placeholder = "***"

// secretKeys are parameter names that cameras and their software take
// credentials in: Dahua/Amcrest ?user=&password=, Foscam pwd=, Hikvision
// auth=, tokens and signatures of cloud relays (go2rtc #238, mediamtx #6110).
// Lower case; matching ignores case.
var secretKeys = map[string]bool{
	"password": true, "passwd": true, "pass": true, "pwd": true, "pw": true, "psw": true,
	"user": true, "username": true, "usr": true,
	"token": true, "access_token": true, "auth": true, "key": true, "apikey": true,
	"secret": true, "sign": true, "signature": true,
}

// URL returns rawURL with its userinfo and the values of secret parameters
// replaced by Placeholder. It never fails: the URL is not parsed, so one that
// net/url would refuse (a password holding '#', '?' or '/' unescaped, as
// users type them) is hidden just as well.
func URL(rawURL string) string {
	s := rawURL
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		// The last '@' ends the userinfo: a password may hold '@', '/', '#'
		// or '?' unescaped. An '@' later in a query makes this hide more
		// than the userinfo, never less.
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			s = s[:i+3] + Placeholder + rest[at:]
		}
	}
	return params(s)
}

// Text returns s with every URL in it (a scheme followed by "://", up to the
// next white space or quote) redacted as URL does, and any secret parameter
// (key=value after '?', '&' or ';') hidden also outside a URL.
func Text(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		end := strings.IndexAny(s, " \t\r\n\"'<>")
		if end < 0 {
			end = len(s)
		}
		field := s[:end]
		if i := strings.Index(field, "://"); i >= 0 {
			start := schemeStart(field, i)
			b.WriteString(params(field[:start]))
			b.WriteString(URL(field[start:]))
		} else {
			b.WriteString(params(field))
		}
		if end < len(s) {
			b.WriteByte(s[end])
			end++
		}
		s = s[end:]
	}
	return b.String()
}

// schemeStart returns where the URL scheme ending at sep ("://") begins:
// RFC 3986 §3.1 letters, digits, '+', '-', '.'.
func schemeStart(s string, sep int) int {
	i := sep
	for i > 0 {
		c := s[i-1]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' {
			i--
			continue
		}
		break
	}
	return i
}

// params hides the value of every secret key=value that follows '?', '&' or
// ';'. A value ends at '&', ';' or '#'.
func params(s string) string {
	if !strings.ContainsAny(s, "?&;") || !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexAny(s, "?&;")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
		eq := strings.IndexByte(s, '=')
		if eq < 0 || strings.ContainsAny(s[:eq], "?&;#") {
			continue
		}
		key := s[:eq]
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if !secretKeys[strings.ToLower(key)] {
			continue
		}
		end := strings.IndexAny(s[eq+1:], "&;#")
		if end < 0 {
			end = len(s) - eq - 1
		}
		b.WriteString(s[:eq+1])
		b.WriteString(Placeholder)
		s = s[eq+1+end:]
	}
}

// Secrets returns the secrets that a camera URL holds — the userinfo's
// password (as written, percent-decoded and re-encoded both ways) and the
// values of secret parameters — for a Scrubber, longest first.
func Secrets(rawURL string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if i := strings.Index(rawURL, "://"); i >= 0 {
		rest := rawURL[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			if c := strings.Index(userinfo, ":"); c >= 0 {
				pw := userinfo[c+1:]
				add(pw)
				if d, err := url.PathUnescape(pw); err == nil {
					add(d, url.PathEscape(d), url.QueryEscape(d))
				}
			} else {
				add(userinfo) // a user name alone may be a token
			}
		}
	}
	if q := strings.IndexByte(rawURL, '?'); q >= 0 {
		query := rawURL[q+1:]
		if h := strings.IndexByte(query, '#'); h >= 0 {
			query = query[:h]
		}
		for p := range strings.FieldsFuncSeq(query, func(r rune) bool { return r == '&' || r == ';' }) {
			k, v, ok := strings.Cut(p, "=")
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if !ok || !secretKeys[strings.ToLower(k)] {
				continue
			}
			add(v)
			if d, err := url.QueryUnescape(v); err == nil {
				add(d, url.QueryEscape(d), url.PathEscape(d))
			}
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Scrubber returns a function that removes the given secrets and any URL
// from a message: first every URL as Text hides it, then each secret
// wherever it still appears (an error that quotes a decoded password
// outside a URL). Secrets are replaced longest first, so one that contains
// another is hidden whole.
func Scrubber(secrets ...string) func(string) string {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return s == "" })
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return func(msg string) string {
		msg = Text(msg)
		for _, s := range secrets {
			msg = strings.ReplaceAll(msg, s, Placeholder)
		}
		return msg
	}
}
