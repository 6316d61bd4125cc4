// Package rtspmsg reads and writes RTSP messages (RFC 2326 §6, §7; RFC 7826
// where clearer), splits a TCP control connection into RTSP messages and
// interleaved frames (RFC 2326 §10.12), and parses the header values both
// ends of a connection read: Transport (RFC 2326 §12.39) and auth-params
// (RFC 7235 §2.1). It starts no goroutines and does no I/O of its own
// beyond the reader it is given; every read and every parse is bounded by
// the constants here. It knows nothing of sessions, of computing or
// checking credentials, or of SDP: package rtsp builds the client on it,
// internal/testcam the test camera's server.
package rtspmsg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrMalformed marks bytes that break the protocol; errors wrap it with
// what was wrong.
var ErrMalformed = errors.New("malformed message")

// ErrTooLarge marks a message over one of the bounds below (a line, the
// header count, a body); errors that wrap it wrap ErrMalformed too.
var ErrTooLarge = errors.New("over a limit")

// tooLarge returns an error wrapping ErrMalformed and ErrTooLarge.
func tooLarge(format string, a ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrMalformed, ErrTooLarge}, a...)...)
}

// ErrHTTP marks an answer from an HTTP server: a URL pointing at a camera's
// web port, or at a web server that is not the camera.
var ErrHTTP = errors.New("the server answered HTTP, not RTSP")

// Bounds on what a peer may send in one RTSP message (R1, R2): a camera to
// the client, a client to the test camera, which `nvr demo` runs on a
// network.
const (
	// MaxLineLen bounds a status, request or header line. Real headers are
	// well under 1 KiB; Digest challenges with long nonces and the
	// Authorization answering them stay under 2 KiB.
	MaxLineLen = 8 << 10
	// MaxHeaders bounds the header count; cameras and clients send about
	// ten, a few dozen at most.
	MaxHeaders = 128
	// MaxBodyLen bounds a body (an SDP, a GET_PARAMETER reply or request).
	// Real SDPs are a few KiB even with large sprop-parameter-sets.
	MaxBodyLen = 256 << 10
	// MaxJunk bounds how many bytes the interleaved reader skips while
	// resynchronising before it gives up on the stream (R5).
	MaxJunk = 64 << 10
	// ReadBufferSize is the bufio size of the control connection: a whole
	// interleaved frame (4-byte header + MaxFrameLen) fits, so frames are
	// handed out from the buffer without a copy, and each read syscall can
	// take several frames.
	ReadBufferSize = 4 + MaxFrameLen + 1<<10
)

// Header is a set of RTSP header fields, keyed by lower-cased name.
type Header map[string][]string

// Get returns the first value of the named field, "" when absent.
func (h Header) Get(name string) string {
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of the named field, in order.
func (h Header) Values(name string) []string { return h[strings.ToLower(name)] }

// Message is one RTSP response or request read from the peer.
type Message struct {
	Response bool
	HTTP     bool   // an HTTP status or request line: not an RTSP peer
	Proto    string // the version as sent: "RTSP/1.0", "RTSP/2.0", "HTTP/1.1"
	// response
	Status int
	Reason string
	// request (clients send them to servers; servers send GET_PARAMETER,
	// OPTIONS, ANNOUNCE... to clients)
	Method string
	URI    string

	Header Header
	Body   []byte
}

// CSeq returns the CSeq header value, tolerating trailing white space
// (Longse cameras send "CSeq: 3 ") and leading white space.
func (m *Message) CSeq() (int, bool) {
	v := strings.TrimSpace(m.Header.Get("CSeq"))
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	return n, true
}

// readLine reads one CRLF- or LF-terminated line of at most max bytes.
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > max+2 {
			return "", tooLarge("line longer than %d bytes", max)
		}
		buf = append(buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(buf), "\r\n"), nil
}

// ReadMessage reads one RTSP message (RFC 2326 §6, §7) with every part
// bounded: line length, header count, body length. Folded header lines
// (obsolete in RFC 7826 §5.2) are rejected rather than joined, so a
// peer cannot grow one header without limit. The version is not checked
// beyond its name (Proto): the peer that cares answers 505.
func ReadMessage(br *bufio.Reader) (*Message, error) {
	line, err := readLine(br, MaxLineLen)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: Header{}}
	// An HTTP status line is parsed too: a URL pointing at a camera's web
	// port then fails with the server's status instead of a timeout.
	if strings.HasPrefix(line, "RTSP/") || strings.HasPrefix(line, "HTTP/") {
		// Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase
		m.Response = true
		m.HTTP = strings.HasPrefix(line, "HTTP/")
		proto, rest, ok := strings.Cut(line, " ")
		m.Proto = proto
		if !ok {
			return nil, fmt.Errorf("%w: bad status line %q", ErrMalformed, clip(line))
		}
		rest = strings.TrimLeft(rest, " ")
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 {
			return nil, fmt.Errorf("%w: bad status code %q", ErrMalformed, clip(code))
		}
		m.Status, m.Reason = n, strings.TrimSpace(reason)
	} else {
		// Request-Line = Method SP Request-URI SP RTSP-Version. An HTTP
		// request line is read too, so a server can answer a browser 505.
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "RTSP/") && !strings.HasPrefix(f[2], "HTTP/") {
			return nil, fmt.Errorf("%w: bad request line %q", ErrMalformed, clip(line))
		}
		m.Method, m.URI, m.Proto = f[0], f[1], f[2]
		m.HTTP = strings.HasPrefix(f[2], "HTTP/")
	}
	count := 0
	for {
		line, err := readLine(br, MaxLineLen)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, fmt.Errorf("%w: folded header line", ErrMalformed)
		}
		count++
		if count > MaxHeaders {
			return nil, tooLarge("more than %d header lines", MaxHeaders)
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: bad header line %q", ErrMalformed, clip(line))
		}
		k := strings.ToLower(name)
		m.Header[k] = append(m.Header[k], strings.TrimSpace(value))
	}
	n, err := contentLength(m.Header.Values("Content-Length"))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		m.Body = make([]byte, n)
		if _, err := io.ReadFull(br, m.Body); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return m, nil
}

// contentLength validates Content-Length before anything is allocated (R1:
// "-1", "1e12" and "abc" are errors, never an allocation).
func contentLength(vs []string) (int, error) {
	if len(vs) == 0 {
		return 0, nil
	}
	var n uint64
	for i, v := range vs {
		x, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			x = math.MaxUint64 // all digits, only too long: over the limit below
		case err != nil:
			return 0, fmt.Errorf("%w: bad Content-Length %q", ErrMalformed, clip(v))
		}
		if i > 0 && x != n {
			return 0, fmt.Errorf("%w: conflicting Content-Length headers", ErrMalformed)
		}
		n = x
	}
	if n > MaxBodyLen {
		return 0, tooLarge("Content-Length %s over the %d-byte limit", clip(strings.TrimSpace(vs[0])), MaxBodyLen)
	}
	return int(n), nil
}

// clip shortens server text quoted in an error.
func clip(s string) string {
	const maxQuoted = 64 // enough to recognise the line, short enough for one log line
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// Request is an outgoing RTSP request.
type Request struct {
	Method string
	URL    string
	Header [][2]string // in order; values have CR and LF stripped on output
	Body   []byte
}

// Add appends a header field.
func (r *Request) Add(k, v string) { r.Header = append(r.Header, [2]string{k, v}) }

// Marshal renders the request (RFC 2326 §6). Header values come from our
// own config or parsed server values; CR and LF are stripped so a hostile
// value cannot inject header lines.
func (r *Request) Marshal(cseq int) []byte {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(noCRLF(r.URL))
	b.WriteString(" RTSP/1.0\r\nCSeq: ")
	b.WriteString(strconv.Itoa(cseq))
	b.WriteString("\r\n")
	for _, h := range r.Header {
		b.WriteString(h[0])
		b.WriteString(": ")
		b.WriteString(noCRLF(h[1]))
		b.WriteString("\r\n")
	}
	if len(r.Body) > 0 {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(r.Body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return []byte(b.String())
}

func noCRLF(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// MarshalResponse renders a reply to a request from the server.
func MarshalResponse(status int, reason string, cseq, session string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "RTSP/1.0 %d %s\r\n", status, reason)
	if cseq != "" {
		b.WriteString("CSeq: " + noCRLF(cseq) + "\r\n")
	}
	if session != "" {
		b.WriteString("Session: " + noCRLF(session) + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
