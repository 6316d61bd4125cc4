package testcam

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

const (
	// writeTimeout bounds one write to a client: a client that has not
	// read for this long is gone, and a camera would drop it too.
	writeTimeout = 10 * time.Second
	// publicMethods is the OPTIONS answer (RFC 2326 §10.1); GET_PARAMETER
	// is listed so clients use it for keepalives.
	publicMethods = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
	// hugeHeaderCount is the header count of Response "huge-headers" (R2).
	hugeHeaderCount = 10000
	// badContentLength is the length announced by Response
	// "bad-content-length" (R1): a terabyte a client must not allocate.
	badContentLength = "1000000000000"
	// garbageBytes is how much Response "garbage" sends.
	garbageBytes = 4096
)

// conn is one client TCP connection and its (at most one) RTSP session.
// The serve goroutine owns all fields except those noted.
type conn struct {
	s  *Server
	nc net.Conn // closed by Close and by the CloseAfter fault from other goroutines
	br *bufio.Reader

	wmu sync.Mutex // serialises writes of responses and interleaved media

	sess *session
}

// session is the RTSP session of a conn (RFC 2326 §3).
type session struct {
	stream   *stream
	id       string
	tr       transport
	setupURL string
	ssrc     uint32
	seq      uint16 // first sequence number
	tsBase   uint32 // RTP timestamp of media time 0
	videoSet bool   // the video track was set up (a client may set up audio only)
	audio    *audioSetup
	cancel   context.CancelFunc
	done     chan struct{} // closed when the streamer has ended; nil until PLAY
}

// audioSetup is the audio track of a session (Options.Audio), with its own
// transport, SSRC, sequence numbers and RTP clock.
type audioSetup struct {
	tr       transport
	setupURL string
	ssrc     uint32
	seq      uint16 // first sequence number
	tsBase   uint32 // RTP timestamp of the first sample, presented with the clip's first frame
}

func newAudioSetup() *audioSetup {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return &audioSetup{
		ssrc:   binary.BigEndian.Uint32(b[:]),
		seq:    binary.BigEndian.Uint16(b[4:]),
		tsBase: binary.BigEndian.Uint32(b[6:]),
	}
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, rtspmsg.MaxLineLen)}
}

// write writes b under the write lock with a deadline.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// serve reads requests until the client goes away, the server closes, or a
// fault ends the connection. It waits for the streamer it started.
func (c *conn) serve(ctx context.Context) {
	defer func() {
		c.endSession()
		c.nc.Close()
	}()
	timeout := time.Duration(c.s.opts.SessionTimeout) * time.Second
	lastRequest := time.Now()
	for {
		// RequireKeepalive (F3): a session with no RTSP request within
		// the announced timeout is over (RFC 2326 §12.37). RTCP over the
		// interleaved channel does not move the deadline. A connection
		// without a session gets the same time to send its next request,
		// so idle or half-sent requests cannot pin goroutines forever.
		deadline := time.Time{}
		if c.sess == nil || c.s.opts.RequireKeepalive {
			deadline = lastRequest.Add(timeout)
		}
		if err := c.nc.SetReadDeadline(deadline); err != nil {
			return
		}
		req, err := readRequest(c.br)
		if errors.Is(err, errInterleaved) {
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.sess != nil {
				c.s.stats.expired.Add(1)
				return
			}
			status := 0
			switch {
			case errors.Is(err, errUnsupportedV):
				status = 505
			case errors.Is(err, rtspmsg.ErrMalformed): // a bound's rtspmsg.ErrTooLarge too
				status = 400
			}
			if status != 0 {
				r := response{Status: status}
				_ = c.write(r.marshal(""))
			}
			return
		}
		lastRequest = time.Now()
		// "silent" never answers anything (R4: accepts TCP, never
		// replies); the other response faults hit DESCRIBE, the request
		// whose response carries a body.
		if c.s.opts.Response == ResponseSilent ||
			req.Method == "DESCRIBE" && c.s.opts.Response != ResponseNormal {
			c.fault(ctx, req)
			return
		}
		resp, play := c.handle(req)
		if err := c.write(resp.marshal(req.CSeq)); err != nil {
			return
		}
		if play {
			c.startStream(ctx)
		}
	}
}

// endSession stops the streamer, if any, and forgets the session.
func (c *conn) endSession() {
	if c.sess == nil {
		return
	}
	if c.sess.cancel != nil {
		c.sess.cancel()
		<-c.sess.done
	}
	c.sess.stream.active.Add(-1)
	c.sess = nil
	c.s.stats.active.Add(-1)
}

// handle answers one request. play reports that PLAY succeeded and media
// must start after the response is written.
func (c *conn) handle(req *request) (resp *response, play bool) {
	resp = &response{Status: 200}
	s := c.s
	needsAuth := req.Method != "OPTIONS"
	if needsAuth && !s.authorized(req) {
		s.stats.authFailures.Add(1)
		resp.Status = 401
		resp.add("WWW-Authenticate", s.challenge())
		return resp, false
	}
	// A Session header must name this connection's session (RFC 2326 §12.37).
	if id := sessionID(req.get("session")); id != "" && (c.sess == nil || id != c.sess.id) {
		resp.Status = 454
		return resp, false
	}
	switch req.Method {
	case "OPTIONS":
		resp.add("Public", publicMethods)
		if c.sess != nil {
			s.stats.keepalives.Add(1)
			resp.add("Session", c.sessionHeader())
		}
	case "GET_PARAMETER":
		if c.sess != nil {
			s.stats.keepalives.Add(1)
			resp.add("Session", c.sessionHeader())
		}
	case "DESCRIBE":
		st, _ := s.lookup(req.URI, false)
		if st == nil {
			resp.Status = 404
			return resp, false
		}
		base := stripUserinfo(req.URI)
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		resp.add("Content-Base", base)
		resp.add("Content-Type", "application/sdp")
		resp.Body = st.sdp
	case "SETUP":
		st, isAudio := s.lookup(req.URI, true)
		if st == nil {
			resp.Status = 404
			return resp, false
		}
		tr, ok := pickTransport(req.get("transport"))
		if !ok {
			resp.Status = 461
			return resp, false
		}
		if c.sess != nil && (c.sess.done != nil || c.sess.stream != st) {
			// Changing the transport of a playing session is not
			// allowed (RFC 2326 §10.4); one session has one track.
			resp.Status = 455
			return resp, false
		}
		if c.sess != nil && !c.sess.compatible(tr, isAudio) {
			// Both tracks go the same way (TCP or UDP), on distinct
			// interleaved channels.
			resp.Status = 461
			return resp, false
		}
		if c.sess == nil {
			c.sess = newSession(st, &s.opts)
			s.stats.sessions.Add(1)
			s.stats.active.Add(1)
			st.sessions.Add(1)
			st.active.Add(1)
		}
		ssrc := c.sess.ssrc
		if isAudio {
			if c.sess.audio == nil {
				c.sess.audio = newAudioSetup()
			}
			c.sess.audio.tr = tr
			c.sess.audio.setupURL = stripUserinfo(req.URI)
			ssrc = c.sess.audio.ssrc
		} else {
			c.sess.tr, c.sess.videoSet = tr, true
			c.sess.setupURL = stripUserinfo(req.URI)
		}
		var th string
		if tr.TCP {
			th = fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", tr.Interleaved[0], tr.Interleaved[1])
		} else {
			rtpPort := s.rtp.LocalAddr().(*net.UDPAddr).Port
			th = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d",
				tr.ClientRTP, tr.ClientRTCP, rtpPort, rtpPort+1)
		}
		if s.opts.AnnounceSSRC {
			th += fmt.Sprintf(";ssrc=%08X", ssrc)
		}
		resp.add("Transport", th)
		resp.add("Session", c.sessionHeader())
	case "PLAY":
		if c.sess == nil {
			resp.Status = 454
			return resp, false
		}
		resp.add("Session", c.sessionHeader())
		resp.add("Range", "npt=0.000-")
		if c.sess.done != nil {
			return resp, false // already playing; PLAY again is harmless
		}
		// RTP-Info names each track set up, with the RTP times of one
		// instant: the clip's first frame and the audio's first sample.
		var infos []string
		if c.sess.videoSet {
			info := fmt.Sprintf("url=%s;seq=%d;rtptime=%d", c.sess.setupURL, c.sess.seq,
				c.sess.tsBase+uint32(c.sess.stream.clip.Frames[0].PTS))
			if s.opts.AnnounceSSRC {
				info += fmt.Sprintf(";ssrc=%08X", c.sess.ssrc)
			}
			infos = append(infos, info)
		}
		if a := c.sess.audio; a != nil {
			info := fmt.Sprintf("url=%s;seq=%d;rtptime=%d", a.setupURL, a.seq, a.tsBase)
			if s.opts.AnnounceSSRC {
				info += fmt.Sprintf(";ssrc=%08X", a.ssrc)
			}
			infos = append(infos, info)
		}
		resp.add("RTP-Info", strings.Join(infos, ","))
		s.stats.plays.Add(1)
		return resp, true
	case "TEARDOWN":
		if c.sess == nil {
			resp.Status = 454
			return resp, false
		}
		c.endSession()
		s.stats.teardowns.Add(1)
	default:
		resp.Status = 501
		resp.add("Public", publicMethods)
	}
	return resp, false
}

func newSession(st *stream, o *Options) *session {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	ss := &session{
		stream: st,
		id:     hex.EncodeToString(b[:8]),
		ssrc:   binary.BigEndian.Uint32(b[8:]),
		seq:    binary.BigEndian.Uint16(b[12:]),
		tsBase: binary.BigEndian.Uint32(b[12:]) ^ uint32(b[8])<<24,
	}
	if o.SSRC != 0 {
		ss.ssrc = o.SSRC
	}
	if o.SequenceBase != 0 {
		ss.seq = o.SequenceBase
	}
	if o.TimestampBase != 0 {
		ss.tsBase = o.TimestampBase - uint32(st.clip.Frames[0].PTS)
	}
	return ss
}

// compatible reports whether a SETUP of the video (or audio) track with
// transport tr fits the tracks already set up: the same lower transport,
// and over TCP interleaved channels the other track does not use.
func (ss *session) compatible(tr transport, audio bool) bool {
	var other *transport
	switch {
	case audio && ss.videoSet:
		other = &ss.tr
	case !audio && ss.audio != nil:
		other = &ss.audio.tr
	default:
		return true
	}
	if tr.TCP != other.TCP {
		return false
	}
	if !tr.TCP {
		return true
	}
	for _, a := range tr.Interleaved {
		if a == other.Interleaved[0] || a == other.Interleaved[1] {
			return false
		}
	}
	return true
}

func (c *conn) sessionHeader() string {
	return c.sess.id + ";timeout=" + strconv.Itoa(c.s.opts.SessionTimeout)
}

// sessionID returns the id part of a Session header ("id;timeout=N").
func sessionID(v string) string {
	id, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(id)
}

// stripUserinfo removes credentials from a request URI so they are never
// echoed back in Content-Base or RTP-Info.
func stripUserinfo(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	u.User = nil
	return u.String()
}

// startStream starts the streamer goroutine for the session; serve waits
// for it in endSession.
func (c *conn) startStream(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	c.sess.cancel = cancel
	c.sess.done = make(chan struct{})
	st := newStreamer(c, c.sess)
	done := c.sess.done
	go func() {
		defer close(done)
		st.run(ctx)
	}()
}

// fault answers a DESCRIBE with the configured malformed response and
// then holds the connection until the client or the server closes it.
func (c *conn) fault(ctx context.Context, req *request) {
	s := c.s
	sdp := s.main.sdp
	if st, _ := s.lookup(req.URI, false); st != nil {
		sdp = st.sdp
	}
	ok := &response{Status: 200}
	ok.add("Content-Base", stripUserinfo(req.URI)+"/")
	ok.add("Content-Type", "application/sdp")
	switch s.opts.Response {
	case ResponseSilent:
		// R4: never answer, whatever the request.
	case ResponseBadContentLength:
		// R1: announce a terabyte, send the real SDP, then nothing.
		msg := "RTSP/1.0 200 OK\r\nCSeq: " + req.CSeq + "\r\nContent-Type: application/sdp\r\n" +
			"Content-Length: " + badContentLength + "\r\n\r\n" + string(sdp)
		if c.write([]byte(msg)) != nil {
			return
		}
	case ResponseHugeHeaders:
		// R2: a valid response buried under 10,000 headers.
		for i := range hugeHeaderCount {
			ok.add(fmt.Sprintf("X-Filler-%05d", i), "testcam huge-headers fault")
		}
		ok.Body = sdp
		if c.write(ok.marshal(req.CSeq)) != nil {
			return
		}
	case ResponseGarbage:
		b := make([]byte, garbageBytes)
		_, _ = rand.Read(b)
		b[0] = 0xff // neither "RTSP/" nor '$': unmistakably not RTSP
		if c.write(b) != nil {
			return
		}
	case ResponseDrip:
		// R3: a valid response, one byte per DripInterval.
		ok.Body = sdp
		msg := ok.marshal(req.CSeq)
		t := time.NewTicker(s.opts.DripInterval)
		defer t.Stop()
		for _, b := range msg {
			if c.write([]byte{b}) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
	// Hold the connection: read and discard until the client gives up or
	// Close closes the connection.
	_ = c.nc.SetReadDeadline(time.Time{})
	_, _ = io.Copy(io.Discard, c.nc)
}
