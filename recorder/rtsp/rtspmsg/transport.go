package rtspmsg

import (
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// Bounds on a Transport header.
const (
	// MaxTransports bounds the specs read from one Transport header: a
	// client offers a few alternatives (TCP, UDP, multicast), a server
	// answers with one.
	MaxTransports = 16
	// maxChannel is the largest interleaved channel: the channel field of
	// RFC 2326 §10.12 is one byte.
	maxChannel = 255
	// maxPort is the largest UDP port.
	maxPort = 65535
)

// Transport is one transport spec of a Transport header (RFC 2326 §12.39,
// RFC 7826 §18.54): what a client asks for in SETUP, or what the server
// chose in its reply. Names are upper-cased, parameter values are as sent
// with quotes removed.
type Transport struct {
	Protocol string // "RTP"
	Profile  string // "AVP", "SAVP"
	// Lower is the lower transport: "TCP", "UDP", or "" when absent,
	// which means UDP.
	Lower string
	// Delivery is "unicast", "multicast", or "" when absent. RFC 2326
	// makes the default multicast, but clients and cameras leave it out
	// for unicast, so the default is the reader's to choose.
	Delivery string

	// Channel and port pairs: "a-b", or a lone "a" meaning a and a+1 (the
	// RTCP channel or port follows the RTP one, RFC 3550 §11), or a alone
	// when a is the largest value and has no successor.
	Interleaved    [2]int
	HasInterleaved bool
	ClientPort     [2]int
	HasClientPort  bool
	ServerPort     [2]int
	HasServerPort  bool

	SSRC        uint32 // 8 hex digits; leading white space tolerated (Hikvision)
	HasSSRC     bool
	Source      string
	Destination string
	Mode        string // "PLAY", "RECORD", upper-cased; "" when absent

	// Err is the first parameter that did not parse; it is left at its
	// zero value and the others still count. A client reading a reply can
	// ignore it; a server should not accept the spec.
	Err error
}

// TCP reports whether the spec asks for interleaved transport on the
// control connection (RFC 2326 §10.12).
func (t Transport) TCP() bool { return t.Lower == "TCP" }

// ParseTransport splits a Transport header into its specs, in order. It
// fails only when there is no spec at all or more than MaxTransports, and
// then returns what it read up to the bound; a spec whose own parts do not
// parse has its Err set instead. Commas and semicolons inside quoted
// values (mode="PLAY,RECORD", RFC 7826 §18.54) do not split.
func ParseTransport(v string) ([]Transport, error) {
	var out []Transport
	for spec := range splitUnquoted(v, ',') {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		if len(out) == MaxTransports {
			return out, fmt.Errorf("%w: more than %d transport specs", ErrMalformed, MaxTransports)
		}
		out = append(out, parseTransportSpec(spec))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no transport spec in %q", ErrMalformed, clip(v))
	}
	return out, nil
}

// parseTransportSpec parses one transport-spec:
// transport-protocol/profile[/lower-transport] *(";" parameter).
func parseTransportSpec(spec string) Transport {
	var t Transport
	first := true
	for p := range splitUnquoted(spec, ';') {
		p = strings.TrimSpace(p)
		if first {
			first = false
			parts := strings.Split(asciiUpper(p), "/")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || len(parts) == 3 && parts[2] == "" {
				t.Err = fmt.Errorf("%w: transport %q", ErrMalformed, clip(p))
				continue
			}
			t.Protocol, t.Profile = parts[0], parts[1]
			if len(parts) == 3 {
				t.Lower = parts[2]
			}
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		k = asciiLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		var err error
		switch k {
		case "unicast", "multicast":
			t.Delivery = k
		case "interleaved":
			t.Interleaved, err = parsePair(val, maxChannel)
			t.HasInterleaved = err == nil
		case "client_port":
			t.ClientPort, err = parsePair(val, maxPort)
			t.HasClientPort = err == nil
		case "server_port":
			t.ServerPort, err = parsePair(val, maxPort)
			t.HasServerPort = err == nil
		case "ssrc":
			var n uint64
			if n, err = strconv.ParseUint(val, 16, 32); err == nil {
				t.SSRC, t.HasSSRC = uint32(n), true
			}
		case "source":
			t.Source = val
		case "destination":
			t.Destination = val
		case "mode":
			t.Mode = asciiUpper(val)
		}
		if err != nil && t.Err == nil {
			t.Err = fmt.Errorf("%w: transport parameter %q", ErrMalformed, clip(p))
		}
	}
	return t
}

// parsePair parses "a-b" or a lone "a" (see Transport) with both in
// [0, max]. White space around the numbers is tolerated.
func parsePair(v string, max int) ([2]int, error) {
	as, bs, hasB := strings.Cut(v, "-")
	a, ok := parseDecimal(as, max)
	if !ok {
		return [2]int{}, ErrMalformed
	}
	if !hasB {
		return [2]int{a, min(a+1, max)}, nil
	}
	b, ok := parseDecimal(bs, max)
	if !ok {
		return [2]int{}, ErrMalformed
	}
	return [2]int{a, b}, nil
}

// parseDecimal parses 1*DIGIT (no sign, unlike strconv.Atoi) up to max.
func parseDecimal(s string, max int) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > len(strconv.Itoa(max)) {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}

// unquote removes the quotes of a quoted-string (RFC 7230 §3.2.6) and the
// backslashes of its quoted-pairs; other values are returned as they are.
// An unterminated quote runs to the end.
func unquote(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	s, _ := readQuoted(v)
	return s
}

// readQuoted reads the quoted-string at the start of s (which begins with
// '"') and returns its value and what follows the closing quote.
func readQuoted(s string) (string, string) {
	var b strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	if i < len(s) {
		i++ // the closing quote
	}
	return b.String(), s[i:]
}

// splitUnquoted yields the parts of s between sep bytes that are not
// inside a quoted-string.
func splitUnquoted(s string, sep byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		start, quoted := 0, false
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case quoted && c == '\\':
				i++ // a quoted-pair: the next byte is literal
			case c == '"':
				quoted = !quoted
			case !quoted && c == sep:
				if !yield(s[start:i]) {
					return
				}
				start = i + 1
			}
		}
		yield(s[start:])
	}
}

// asciiUpper and asciiLower map the case of ASCII letters only: tokens are
// ASCII (RFC 7230 §3.2.6), and strings.ToUpper would turn each invalid
// UTF-8 byte into a three-byte U+FFFD.
func asciiUpper(s string) string { return mapASCII(s, 'a', 'z', 'A'-'a') }
func asciiLower(s string) string { return mapASCII(s, 'A', 'Z', 'a'-'A') }

func mapASCII(s string, lo, hi byte, delta int) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= rune(lo) && r <= rune(hi) })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= lo && b[i] <= hi {
			b[i] = byte(int(b[i]) + delta)
		}
	}
	return string(b)
}
