package rtspmsg

import "strings"

// MaxAuthParams bounds the parameters read from one challenge or one set
// of credentials: Digest has about ten (RFC 7616 §3.3, §3.4); more are
// read past but not kept.
const MaxAuthParams = 64

// ParseAuthParams reads the auth-params that follow the scheme of a
// WWW-Authenticate challenge or an Authorization header (RFC 7235 §2.1):
//
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// separated by commas. Names are lower-cased (they are case-insensitive);
// a quoted value has its quotes and quoted-pair backslashes removed
// (RFC 7230 §3.2.6), an unterminated one runs to the end; a repeated name
// keeps its last value. It stops where a token is not followed by '=' —
// the scheme of the next challenge in the same header ("…, Basic
// realm=…") — and returns the unread rest from there, or "".
func ParseAuthParams(s string) (params map[string]string, rest string) {
	params = map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params, ""
		}
		end := strings.IndexAny(s, " \t,=")
		if end < 0 {
			end = len(s)
		}
		after := strings.TrimLeft(s[end:], " \t")
		if !strings.HasPrefix(after, "=") {
			return params, s
		}
		key := asciiLower(s[:end])
		s = strings.TrimLeft(after[1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			val, s = readQuoted(s)
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, ok := params[key]; ok || len(params) < MaxAuthParams {
			params[key] = val
		}
	}
}
