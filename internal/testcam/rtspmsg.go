package testcam

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// What the server reads from a client is bounded by rtspmsg's limits
// (rtspmsg.MaxLineLen, MaxHeaders, MaxBodyLen): a client is a test peer,
// but the server is also run by `nvr demo` on a network, so it treats
// input as untrusted.

// Errors from reading a request, besides rtspmsg's.
var (
	errInterleaved  = errors.New("interleaved frame") // not an error: a $ frame was skipped
	errUnsupportedV = errors.New("unsupported RTSP version")
)

// request is one RTSP request (RFC 2326 §6) read by rtspmsg.
type request struct {
	*rtspmsg.Message
	CSeq string // echoed as sent (trimmed), RFC 2326 §12.17
}

// get returns a header's values joined with "," (RFC 2616 §4.2, which
// RFC 2326 §4.2 follows: repeated fields are one comma-separated list).
func (r *request) get(key string) string { return strings.Join(r.Header.Values(key), ",") }

// readRequest reads the next request. An interleaved binary frame
// (RFC 2326 §10.12), such as an RTCP receiver report from a TCP client, is
// consumed and reported as errInterleaved. The server speaks RTSP/1.0
// only: another version, or an HTTP request, is errUnsupportedV (505,
// RFC 2326 §11.5.6).
func readRequest(br *bufio.Reader) (*request, error) {
	it, err := rtspmsg.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if it.Frame {
		return nil, errInterleaved
	}
	if it.Msg.Proto != "RTSP/1.0" {
		return nil, fmt.Errorf("%q: %w", truncate(it.Msg.Proto, 16), errUnsupportedV)
	}
	return &request{Message: it.Msg, CSeq: it.Msg.Header.Get("CSeq")}, nil
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

// pickTransport picks the first transport spec of a SETUP's Transport
// header the server supports: RTP/AVP unicast, over TCP (channels 0-1
// unless given) or over UDP to a client_port pair. A spec with a parameter
// that does not parse is refused.
func pickTransport(v string) (transport, bool) {
	specs, err := rtspmsg.ParseTransport(v)
	if err != nil {
		return transport{}, false
	}
	for _, sp := range specs {
		if sp.Err != nil || sp.Protocol != "RTP" || sp.Profile != "AVP" || sp.Delivery == "multicast" {
			continue
		}
		var t transport
		switch sp.Lower {
		case "TCP":
			t.TCP, t.Interleaved = true, [2]int{0, 1}
			if sp.HasInterleaved {
				t.Interleaved = sp.Interleaved
			}
		case "", "UDP":
			if !sp.HasClientPort || sp.ClientPort[0] == 0 {
				continue
			}
			t.ClientRTP, t.ClientRTCP = sp.ClientPort[0], sp.ClientPort[1]
		default:
			continue
		}
		return t, true
	}
	return transport{}, false
}
