package rtsp

import (
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// A scripted fake camera: it answers each request with exact bytes from
// the test case, so every quirk is fed to the client verbatim.

// fakeReq is a request the fake server received.
type fakeReq struct {
	method  string
	url     string
	header  rtspmsg.Header
	session string
}

// fakeHandler writes the reply to one request. It returns false to close
// the connection.
type fakeHandler func(c *fakeConn, r *fakeReq) bool

type fakeConn struct {
	net.Conn
	cseq string
	srv  *fakeServer
}

// send writes raw bytes after substituting {cseq}, {addr} and {host}.
func (c *fakeConn) send(s string) {
	s = strings.ReplaceAll(s, "{cseq}", c.cseq)
	s = strings.ReplaceAll(s, "{addr}", c.srv.addr)
	if i := strings.Index(s, "{len}"); i >= 0 {
		// The body follows the first blank line after the placeholder.
		if j := strings.Index(s[i:], "\r\n\r\n"); j >= 0 {
			body := s[i+j+4:]
			s = strings.Replace(s, "{len}", itoa(len(body)), 1)
		}
	}
	_, _ = c.Write([]byte(s))
}

type fakeServer struct {
	t       testing.TB
	ln      net.Listener
	addr    string
	handler fakeHandler
	wg      sync.WaitGroup
	mu      sync.Mutex
	reqs    []fakeReq
	replies []*rtspmsg.Message // responses the client sent to our requests
	frames  []rtspmsg.Item     // interleaved frames the client sent (RTCP RRs)
	conns   []net.Conn
}

func startFake(t testing.TB, h fakeHandler) *fakeServer {
	t.Helper()
	return startFakeAt(t, "127.0.0.1:0", h)
}

// startFakeAt is startFake on another loopback address (127.0.0.2:0 is a
// second host for redirect tests).
func startFakeAt(t testing.TB, addr string, h fakeHandler) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, addr: ln.Addr().String(), handler: h}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeServer) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeServer) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *fakeServer) serve(c net.Conn) {
	defer f.wg.Done()
	defer c.Close()
	rd := rtspmsg.NewReader(c)
	for {
		it, err := rd.Next()
		if err != nil {
			return
		}
		if it.Frame {
			f.mu.Lock()
			f.frames = append(f.frames, rtspmsg.Item{Frame: true, Channel: it.Channel, Payload: append([]byte(nil), it.Payload...)})
			f.mu.Unlock()
			continue
		}
		if it.Msg.Response {
			f.mu.Lock()
			f.replies = append(f.replies, it.Msg)
			f.mu.Unlock()
			continue
		}
		r := fakeReq{method: it.Msg.Method, url: it.Msg.URI, header: it.Msg.Header, session: it.Msg.Header.Get("Session")}
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.mu.Unlock()
		fc := &fakeConn{Conn: c, cseq: it.Msg.Header.Get("CSeq"), srv: f}
		if !f.handler(fc, &r) {
			return
		}
	}
}

// requests returns the requests received so far.
func (f *fakeServer) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeServer) find(method string) []fakeReq {
	var out []fakeReq
	for _, r := range f.requests() {
		if r.method == method {
			out = append(out, r)
		}
	}
	return out
}

// Standard replies of a well-behaved camera; test cases override some.
const (
	okOptions = "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nServer: fakecam\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n\r\n"
	testSDP   = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\na=control:*\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1;profile-level-id=42001e;sprop-parameter-sets=Z0IAHpWoKA9puAgICBA=,aM48gA==\r\n" +
		"a=control:trackID=1\r\n" +
		"m=audio 0 RTP/AVP 8\r\na=control:trackID=2\r\n"
	okSetupTCP = "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1234ABCD;timeout=60\r\n\r\n"
	okPlay     = "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234ABCD\r\nRange: npt=0.000-\r\n\r\n"
	okPlain    = "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234ABCD\r\n\r\n"
)

func describeReply(sdpText, extraHeaders string) string {
	return "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n" + extraHeaders +
		"Content-Length: {len}\r\n\r\n" + sdpText
}

// script is a table case's camera: a reply per method (defaults above),
// and bytes to send before and after the PLAY reply.
type script struct {
	replies    map[string]string
	beforePlay string
	afterPlay  string
	closePlay  bool   // close the connection after the PLAY reply and afterPlay
	dropOn     string // close the connection on receiving this method
}

func (sc script) handler() fakeHandler {
	return func(c *fakeConn, r *fakeReq) bool {
		if r.method == sc.dropOn {
			return false
		}
		reply, ok := sc.replies[r.method]
		if !ok {
			switch r.method {
			case "OPTIONS", "GET_PARAMETER":
				reply = okOptions
			case "DESCRIBE":
				reply = describeReply(testSDP, "Content-Base: rtsp://{addr}/cam/\r\n")
			case "SETUP":
				reply = okSetupTCP
			case "PLAY":
				reply = okPlay
			default:
				reply = okPlain
			}
		}
		if r.method == "PLAY" {
			c.send(sc.beforePlay + reply + sc.afterPlay)
			return !sc.closePlay
		}
		c.send(reply)
		return true
	}
}

// rtpBytes builds one RTP packet.
func rtpBytes(pt uint8, seq uint16, ts, ssrc uint32, payloadLen int) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: true},
		Payload: make([]byte, payloadLen)}
	if payloadLen > 0 {
		p.Payload[0] = 0x65 // an IDR slice NAL header
	}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// frame wraps data as an interleaved frame (RFC 2326 §10.12).
func frame(ch uint8, data []byte) string {
	h := []byte{'$', ch, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(len(data)))
	return string(h) + string(data)
}

// rtpFrame is an interleaved RTP frame with pt 96.
func rtpFrame(ch uint8, seq uint16, ssrc uint32) string {
	return frame(ch, rtpBytes(96, seq, uint32(seq)*3600, ssrc, 20))
}

// srFrame is an interleaved RTCP sender report.
func srFrame(ch uint8, ssrc uint32) string {
	b := make([]byte, 28)
	b[0], b[1] = 0x80, 200
	binary.BigEndian.PutUint16(b[2:], 6)
	binary.BigEndian.PutUint32(b[4:], ssrc)
	return frame(ch, b)
}
