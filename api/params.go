package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nvr-project/nvr/storage"
)

// Nanosecond timestamps in int64 cover 1677-09-21 to 2262-04-11; times
// outside cannot be stored or compared, so they are refused.
var (
	minTime = time.Unix(0, -1<<63+1).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// timeRange is a validated half-open [start, end) in UTC nanoseconds.
type timeRange struct{ startNS, endNS int64 }

func (tr timeRange) duration() time.Duration { return time.Duration(tr.endNS - tr.startNS) }

// queryParams reads a query string once, refusing repeated keys: a second
// `start` is ambiguous and may be an attempt to confuse a proxy that looks
// at the first one.
func queryParams(raw string) (url.Values, error) {
	if len(raw) > MaxQueryLen {
		return nil, errQueryTooLong
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("malformed query string")
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, badRequest("parameter " + safeName(k) + " given more than once")
		}
		if len(vals[0]) > MaxParamLen && k != "cursor" {
			return nil, badRequest("parameter " + safeName(k) + " too long")
		}
	}
	return v, nil
}

// safeName returns a query key fit to quote back in an error message.
func safeName(k string) string {
	if len(k) > maxEchoedName || strings.ContainsFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	}) {
		return "(unprintable)"
	}
	return strconv.Quote(k)
}

// parseTime parses one RFC 3339 time (fractional seconds allowed, any
// offset) into UTC nanoseconds.
func parseTime(name, s string) (int64, error) {
	if s == "" {
		return 0, badRequest("missing " + name + " (RFC 3339 time)")
	}
	if len(s) > MaxParamLen {
		return 0, badRequest(name + " too long")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, badRequest(name + " is not an RFC 3339 time")
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, badRequest(name + " is out of range (1678 to 2262)")
	}
	return t.UnixNano(), nil
}

// parseRange reads start and end and checks end > start and the length bound.
func parseRange(q url.Values, maxLen time.Duration, what string) (timeRange, error) {
	start, err := parseTime("start", q.Get("start"))
	if err != nil {
		return timeRange{}, err
	}
	end, err := parseTime("end", q.Get("end"))
	if err != nil {
		return timeRange{}, err
	}
	if end <= start {
		return timeRange{}, badRequest("end must be after start")
	}
	tr := timeRange{start, end}
	// end-start overflows int64 for ranges longer than ~292 years (both ends
	// are valid but far apart): a negative difference means "too long".
	if end-start < 0 || tr.duration() > maxLen {
		return timeRange{}, badRequest(what + " range longer than " + maxLen.String())
	}
	return tr, nil
}

// parseLimit reads the page size: default DefaultLimit; larger than
// MaxLimit is capped; zero, negative or non-numeric is refused.
func parseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		if err != nil && strings.Trim(s, "0123456789") == "" {
			return MaxLimit, nil // all digits but overflowing: just very large
		}
		return 0, badRequest("limit must be a positive integer")
	}
	return int(min(n, MaxLimit)), nil
}

// parseStream reads the stream parameter of a footage query: the camera's
// main stream (storage.StreamMain, also when absent) or its recorded sub
// stream (StreamSub).
func parseStream(q url.Values) (string, error) {
	switch s := q.Get("stream"); s {
	case "", storage.StreamMain:
		return storage.StreamMain, nil
	case storage.StreamSub:
		return s, nil
	}
	return "", badRequest("stream must be main or sub")
}

// checkCameraID refuses path values that cannot be a camera id and that
// must never get near a file name: empty, too long, "." or "..", separators,
// control characters, invalid UTF-8 (S1). Anything else is looked up in the
// configured list and is a 404 when absent.
func checkCameraID(id string) error {
	switch {
	case id == "":
		return badRequest("missing camera id")
	case len(id) > MaxIDLen:
		return badRequest("camera id too long")
	case id == "." || id == "..":
		return badRequest("invalid camera id")
	case !utf8.ValidString(id):
		return badRequest("invalid camera id")
	case strings.ContainsFunc(id, func(r rune) bool { return r == '/' || r == '\\' || unicode.IsControl(r) }):
		return badRequest("invalid camera id")
	}
	return nil
}

// maxInt64Digits is the length of the largest int64 in decimal; longer ids
// are refused before parsing.
const maxInt64Digits = 19

// maxEchoedName bounds a parameter name quoted back in an error message.
const maxEchoedName = 32

// parseSegmentID reads a positive decimal id; anything else is a 400, so no
// text from the client reaches the index as an id.
func parseSegmentID(s string) (int64, error) {
	if s == "" || len(s) > maxInt64Digits || strings.Trim(s, "0123456789") != "" {
		return 0, badRequest("segment id must be a positive integer")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("segment id must be a positive integer")
	}
	return n, nil
}

// checkPath refuses request paths with dot segments, empty segments,
// backslashes, NUL or other control characters, encoded or not (S1). The
// mux would otherwise answer them with a redirect to the cleaned path.
func checkPath(escaped string) error {
	if len(escaped) > MaxQueryLen {
		return errQueryTooLong
	}
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 {
			return badRequest("empty path segment")
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return badRequest("malformed path")
		}
		if dec == "." || dec == ".." {
			return badRequest("dot segment in path")
		}
		if strings.ContainsFunc(dec, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
			return badRequest("invalid character in path")
		}
	}
	return nil
}

// Cursors. The store's cursor is opaque; the API hands it out sealed with an
// HMAC over the query it belongs to, so a client can neither forge a cursor
// nor carry one to another camera or time range, and a bad cursor is a 400
// here rather than an error deep in the index.
const cursorMACLen = 16 // 128-bit tag: forging one is out of reach

func (h *handler) sealCursor(camera, stream string, tr timeRange, storeCursor string) string {
	if storeCursor == "" {
		return ""
	}
	mac := h.cursorMAC(camera, stream, tr, storeCursor)
	return base64.RawURLEncoding.EncodeToString([]byte(storeCursor)) + "." +
		base64.RawURLEncoding.EncodeToString(mac)
}

func (h *handler) openCursor(camera, stream string, tr timeRange, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	bad := badRequest("invalid cursor")
	if len(sealed) > MaxCursorLen {
		return "", bad
	}
	body, tag, ok := strings.Cut(sealed, ".")
	if !ok {
		return "", bad
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(tag)
	if err1 != nil || err2 != nil || len(raw) == 0 {
		return "", bad
	}
	if !hmac.Equal(mac, h.cursorMAC(camera, stream, tr, string(raw))) {
		return "", bad
	}
	return string(raw), nil
}

func (h *handler) cursorMAC(camera, stream string, tr timeRange, c string) []byte {
	m := hmac.New(sha256.New, h.cursorKey)
	var b [8]byte
	// Length-prefix the camera and the stream so "a"+"bc" and "ab"+"c"
	// differ.
	for _, s := range []string{camera, stream} {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		m.Write(b[:])
		m.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(b[:], uint64(tr.startNS))
	m.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(tr.endNS))
	m.Write(b[:])
	m.Write([]byte(c))
	return m.Sum(nil)[:cursorMACLen]
}
