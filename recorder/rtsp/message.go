package rtsp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on what a server may send in one RTSP message (R1, R2).
const (
	// maxLineLen bounds a status, request or header line. Real headers are
	// well under 1 KiB; Digest challenges with long nonces stay under 2 KiB.
	maxLineLen = 8 << 10
	// maxHeaders bounds the header count; cameras send about ten, a few
	// dozen at most.
	maxHeaders = 128
	// maxBodyLen bounds a body (an SDP, a GET_PARAMETER reply). Real SDPs
	// are a few KiB even with large sprop-parameter-sets.
	maxBodyLen = 256 << 10
	// maxJunk bounds how many bytes the interleaved reader skips while
	// resynchronising before it gives up on the stream (R5).
	maxJunk = 64 << 10
	// readBufferSize is the bufio size of the control connection: large
	// enough for the longest request-method prefix peek and a typical
	// interleaved frame header.
	readBufferSize = 16 << 10
)

// header is a set of RTSP header fields, keyed by lower-cased name.
type header map[string][]string

func (h header) get(name string) string {
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h header) values(name string) []string { return h[strings.ToLower(name)] }

// message is one RTSP response or request read from the server.
type message struct {
	response bool
	http     bool // an HTTP status line: not an RTSP server
	// response
	status int
	reason string
	// request (servers send GET_PARAMETER, OPTIONS, ANNOUNCE... to clients)
	method string
	uri    string

	header header
	body   []byte
}

// cseq returns the CSeq header value, tolerating trailing white space
// (Longse cameras send "CSeq: 3 ") and leading white space.
func (m *message) cseq() (int, bool) {
	v := strings.TrimSpace(m.header.get("CSeq"))
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
			return "", fmt.Errorf("%w: line longer than %d bytes", errMalformed, max)
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

// readMessage reads one RTSP message (RFC 2326 §6, §7) with every part
// bounded: line length, header count, body length. Folded header lines
// (obsolete in RFC 7826 §5.2) are rejected rather than joined, so a
// server cannot grow one header without limit.
func readMessage(br *bufio.Reader) (*message, error) {
	line, err := readLine(br, maxLineLen)
	if err != nil {
		return nil, err
	}
	m := &message{header: header{}}
	// An HTTP status line is parsed too: a URL pointing at a camera's web
	// port then fails with the server's status instead of a timeout.
	if strings.HasPrefix(line, "RTSP/") || strings.HasPrefix(line, "HTTP/") {
		// Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase
		m.response = true
		m.http = strings.HasPrefix(line, "HTTP/")
		_, rest, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%w: bad status line %q", errMalformed, clip(line))
		}
		rest = strings.TrimLeft(rest, " ")
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 {
			return nil, fmt.Errorf("%w: bad status code %q", errMalformed, clip(code))
		}
		m.status, m.reason = n, strings.TrimSpace(reason)
	} else {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "RTSP/") {
			return nil, fmt.Errorf("%w: bad request line %q", errMalformed, clip(line))
		}
		m.method, m.uri = f[0], f[1]
	}
	count := 0
	for {
		line, err := readLine(br, maxLineLen)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, fmt.Errorf("%w: folded header line", errMalformed)
		}
		count++
		if count > maxHeaders {
			return nil, fmt.Errorf("%w: more than %d header lines", errMalformed, maxHeaders)
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: bad header line %q", errMalformed, clip(line))
		}
		k := strings.ToLower(name)
		m.header[k] = append(m.header[k], strings.TrimSpace(value))
	}
	n, err := contentLength(m.header.values("Content-Length"))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		m.body = make([]byte, n)
		if _, err := io.ReadFull(br, m.body); err != nil {
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
	n := -1
	for _, v := range vs {
		x, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: bad Content-Length %q", errMalformed, clip(v))
		}
		if n >= 0 && int(x) != n {
			return 0, fmt.Errorf("%w: conflicting Content-Length headers", errMalformed)
		}
		n = int(x)
	}
	if n > maxBodyLen {
		return 0, fmt.Errorf("%w: Content-Length %d over the %d-byte limit", errMalformed, n, maxBodyLen)
	}
	return n, nil
}

// clip shortens server text quoted in an error.
func clip(s string) string {
	const maxQuoted = 64 // enough to recognise the line, short enough for one log line
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// request is an outgoing RTSP request.
type request struct {
	method string
	url    string
	header [][2]string
	body   []byte
}

func (r *request) add(k, v string) { r.header = append(r.header, [2]string{k, v}) }

// marshal renders the request (RFC 2326 §6). Header values come from our
// own config or parsed server values; CR and LF are stripped so a hostile
// value cannot inject header lines.
func (r *request) marshal(cseq int) []byte {
	var b strings.Builder
	b.WriteString(r.method)
	b.WriteByte(' ')
	b.WriteString(noCRLF(r.url))
	b.WriteString(" RTSP/1.0\r\nCSeq: ")
	b.WriteString(strconv.Itoa(cseq))
	b.WriteString("\r\n")
	for _, h := range r.header {
		b.WriteString(h[0])
		b.WriteString(": ")
		b.WriteString(noCRLF(h[1]))
		b.WriteString("\r\n")
	}
	if len(r.body) > 0 {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(r.body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return []byte(b.String())
}

func noCRLF(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// marshalResponse renders our reply to a request from the server.
func marshalResponse(status int, reason string, cseq, session string) []byte {
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
