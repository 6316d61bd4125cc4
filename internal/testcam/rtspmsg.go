package testcam

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on what the server reads from a client. A client is a test peer,
// but the server is also run by `nvr demo` on a network, so it treats input
// as untrusted.
const (
	// maxLineBytes bounds one request or header line; the longest real
	// lines (Authorization, Transport) are a few hundred bytes.
	maxLineBytes = 8 << 10
	// maxHeaderLines bounds the header count; RTSP requests carry about ten.
	maxHeaderLines = 64
	// maxBodyBytes bounds a request body (GET_PARAMETER, SET_PARAMETER
	// bodies are tiny parameter lists).
	maxBodyBytes = 64 << 10
)

// Errors from reading a request.
var (
	errLineTooLong   = errors.New("line too long")
	errTooManyLines  = errors.New("too many header lines")
	errBodyTooLarge  = errors.New("body too large")
	errBadRequest    = errors.New("malformed request")
	errInterleaved   = errors.New("interleaved frame") // not an error: a $ frame was skipped
	errUnsupportedV  = errors.New("unsupported RTSP version")
	errBadContentLen = errors.New("bad Content-Length")
)

// request is one parsed RTSP request (RFC 2326 §6).
type request struct {
	Method string
	URI    string
	Header map[string]string // keys in lower case; repeated headers joined with ","
	CSeq   string
	Body   []byte
}

func (r *request) get(key string) string { return r.Header[key] }

// readLine reads one CRLF- or LF-terminated line of at most maxLineBytes.
// br must have a buffer of at least maxLineBytes.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	if len(line) > maxLineBytes {
		return "", errLineTooLong
	}
	return string(bytes.TrimRight(line, "\r\n")), nil
}

// readRequest reads the next request. An interleaved binary frame
// (RFC 2326 §10.12), such as an RTCP receiver report from a TCP client, is
// consumed and reported as errInterleaved, with its channel.
func readRequest(br *bufio.Reader) (*request, int, error) {
	// Skip blank lines between messages (RFC 2326 §4 allows CRLF padding).
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil, 0, err
		}
		switch b[0] {
		case '$':
			var h [4]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return nil, 0, fmt.Errorf("interleaved header: %w", err)
			}
			// The 16-bit length bounds the skip at 64 KiB.
			n := int(h[2])<<8 | int(h[3])
			if _, err := br.Discard(n); err != nil {
				return nil, 0, fmt.Errorf("interleaved body: %w", err)
			}
			return nil, int(h[1]), errInterleaved
		case '\r', '\n':
			if _, err := br.ReadByte(); err != nil {
				return nil, 0, err
			}
			continue
		}
		break
	}
	line, err := readLine(br)
	if err != nil {
		return nil, 0, fmt.Errorf("request line: %w", err)
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, 0, fmt.Errorf("request line %q: %w", truncate(line, 64), errBadRequest)
	}
	if parts[2] != "RTSP/1.0" {
		return nil, 0, fmt.Errorf("%q: %w", truncate(parts[2], 16), errUnsupportedV)
	}
	r := &request{Method: parts[0], URI: parts[1], Header: make(map[string]string)}
	for i := 0; ; i++ {
		if i >= maxHeaderLines {
			return nil, 0, errTooManyLines
		}
		line, err := readLine(br)
		if err != nil {
			return nil, 0, fmt.Errorf("header: %w", err)
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, 0, fmt.Errorf("header line without colon: %w", errBadRequest)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if old, ok := r.Header[k]; ok {
			v = old + "," + v
		}
		r.Header[k] = v
	}
	r.CSeq = r.Header["cseq"]
	if cl, ok := r.Header["content-length"]; ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, 0, errBadContentLen
		}
		if n > maxBodyBytes {
			return nil, 0, errBodyTooLarge
		}
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return nil, 0, fmt.Errorf("body: %w", err)
		}
	}
	return r, 0, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// response is an RTSP response under construction.
type response struct {
	Status int
	Header [][2]string // in order
	Body   []byte
}

func (r *response) add(k, v string) { r.Header = append(r.Header, [2]string{k, v}) }

var statusText = map[int]string{
	200: "OK",
	400: "Bad Request",
	401: "Unauthorized",
	404: "Not Found",
	405: "Method Not Allowed",
	454: "Session Not Found",
	455: "Method Not Valid in This State",
	459: "Aggregate Operation Not Allowed",
	461: "Unsupported Transport",
	500: "Internal Server Error",
	501: "Not Implemented",
	505: "RTSP Version Not Supported",
}

// marshal encodes the response with its CSeq echoed (RFC 2326 §12.17).
func (r *response) marshal(cseq string) []byte {
	var b bytes.Buffer
	text := statusText[r.Status]
	fmt.Fprintf(&b, "RTSP/1.0 %d %s\r\n", r.Status, text)
	if cseq != "" {
		fmt.Fprintf(&b, "CSeq: %s\r\n", cseq)
	}
	b.WriteString("Server: nvr-testcam\r\n")
	for _, h := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if len(r.Body) > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// transport is the part of a SETUP Transport header the server uses
// (RFC 2326 §12.39).
type transport struct {
	TCP                   bool
	Interleaved           [2]int
	ClientRTP, ClientRTCP int
}

// parseTransport picks the first transport spec the server supports from
// a comma-separated list.
func parseTransport(v string) (transport, bool) {
	for _, spec := range strings.Split(v, ",") {
		params := strings.Split(strings.TrimSpace(spec), ";")
		var t transport
		ok := true
		switch strings.ToUpper(strings.TrimSpace(params[0])) {
		case "RTP/AVP/TCP":
			t.TCP = true
			t.Interleaved = [2]int{0, 1}
		case "RTP/AVP", "RTP/AVP/UDP":
		default:
			continue
		}
		gotPorts := false
		for _, p := range params[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(k) {
			case "multicast":
				ok = false
			case "interleaved":
				a, b, err := parseRange(val, 255)
				if err != nil {
					ok = false
				}
				t.Interleaved = [2]int{a, b}
			case "client_port":
				a, b, err := parseRange(val, 65535)
				if err != nil || a == 0 {
					ok = false
				}
				t.ClientRTP, t.ClientRTCP = a, b
				gotPorts = true
			}
		}
		if !t.TCP && !gotPorts {
			ok = false
		}
		if ok {
			return t, true
		}
	}
	return transport{}, false
}

// parseRange parses "a-b" or "a" (then b = a+1) with both at most maxV.
func parseRange(v string, maxV int) (int, int, error) {
	as, bs, hasB := strings.Cut(v, "-")
	a, err := strconv.Atoi(as)
	if err != nil || a < 0 || a > maxV {
		return 0, 0, errBadRequest
	}
	b := a + 1
	if hasB {
		if b, err = strconv.Atoi(bs); err != nil || b < 0 || b > maxV {
			return 0, 0, errBadRequest
		}
	}
	if b > maxV {
		b = a
	}
	return a, b, nil
}
