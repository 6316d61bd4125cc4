package testcam

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Server did. All counters only grow, except
// ActiveSessions.
type Stats struct {
	Connections    int64 // TCP connections accepted
	Rejected       int64 // TCP connections closed at once because maxConns were open
	Sessions       int64 // RTSP sessions created by SETUP
	ActiveSessions int64 // sessions existing now
	Plays          int64 // PLAY requests answered 200
	Teardowns      int64 // TEARDOWN requests answered 200
	Keepalives     int64 // GET_PARAMETER or OPTIONS received inside a session
	Expired        int64 // sessions closed because no keepalive came (RequireKeepalive)
	AuthFailures   int64 // requests answered 401
	PacketsSent    int64 // RTP packets written
	PacketsDropped int64 // RTP packets skipped by DropEvery
	FramesSent     int64 // access units whose packets were all handed to the socket
	BytesSent      int64 // RTP bytes written (headers and payloads, without interleaving)
	MediaWrites    int64 // TCP writes of RTP packets: one per packet, or one per frame with FrameWrites
	AudioPackets   int64 // RTP packets of the audio track written (Options.Audio)
}

type counters struct {
	connections, rejected, sessions, active, plays, teardowns, keepalives, expired, authFailures atomic.Int64
	packets, dropped, frames, bytes, mediaWrites, audioPackets                                   atomic.Int64
}

// Server is a running test camera. Create it with Start; stop it with Close.
type Server struct {
	opts     Options
	main     *stream            // the stream at Options.Path
	streams  map[string]*stream // every stream by path, main included
	alt      *Clip              // the clip switched to by SPSChangeAfter
	altPkts  [][]RTPPacketTemplate
	nonce    string
	ln       net.Listener
	rtp      *net.UDPConn // shared by all UDP sessions: RTP goes out from here
	rtcp     *net.UDPConn // the announced RTCP port; incoming reports are ignored
	url      string
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[*conn]struct{}
	closed   bool
	stats    counters
	closeErr error
	once     sync.Once
}

// Start validates opts, listens on opts.Addr and serves until Close.
// Every connection and session runs in goroutines owned by the Server.
func Start(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	s := &Server{opts: opts, conns: make(map[*conn]struct{})}
	var err error
	if opts.SPSChangeAfter > 0 {
		if s.alt, s.altPkts, err = loadPacketized(opts.SPSChangeClip, opts.MaxPacketSize); err != nil {
			return nil, fmt.Errorf("testcam: %w", err)
		}
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("testcam: nonce: %w", err)
	}
	s.nonce = hex.EncodeToString(nonce[:])

	s.ln, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("testcam: listen %s: %w", opts.Addr, err)
	}
	if wrapListener != nil {
		s.ln = wrapListener(s.ln)
	}
	host := s.ln.Addr().(*net.TCPAddr).IP
	if s.rtp, s.rtcp, err = listenUDPPair(host); err != nil {
		s.ln.Close()
		return nil, fmt.Errorf("testcam: %w", err)
	}
	s.streams = make(map[string]*stream, 1+len(opts.Streams))
	paths := map[string]string{opts.Path: opts.Clip}
	for p, c := range opts.Streams {
		paths[p] = c
	}
	for p, name := range paths {
		st := &stream{path: p}
		if st.clip, st.packets, err = loadPacketized(name, opts.MaxPacketSize); err != nil {
			s.ln.Close()
			s.rtp.Close()
			s.rtcp.Close()
			return nil, fmt.Errorf("testcam: %w", err)
		}
		if opts.Audio {
			st.audio = audioLoop(st.clip.Duration)
		}
		st.sdp = buildSDP(st.clip, host, &opts)
		s.streams[p] = st
	}
	s.main = s.streams[opts.Path]

	s.url = s.URLFor(opts.Path)

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// wrapListener, when set by a test, wraps the TCP listener (to inject
// Accept errors).
var wrapListener func(net.Listener) net.Listener

// maxUDPPairTries bounds the search for an even/odd UDP port pair.
const maxUDPPairTries = 20

// listenUDPPair opens an RTP port and the next port for RTCP (RFC 3550 §11
// asks for an even RTP port with RTCP on the next one).
func listenUDPPair(ip net.IP) (*net.UDPConn, *net.UDPConn, error) {
	var lastErr error
	for range maxUDPPairTries {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, fmt.Errorf("udp listen: %w", err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65534 {
			a.Close()
			lastErr = errors.New("odd port")
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			a.Close()
			lastErr = err
			continue
		}
		return a, b, nil
	}
	return nil, nil, fmt.Errorf("no UDP port pair after %d tries: %w", maxUDPPairTries, lastErr)
}

// stream is one path of the server and the clip it loops.
type stream struct {
	path    string
	clip    *Clip
	packets [][]RTPPacketTemplate
	audio   [][]byte // one loop of the audio track's payloads (Options.Audio), else nil
	sdp     []byte

	sessions, active atomic.Int64 // this path's share of Stats.Sessions and ActiveSessions
}

// lookup returns the stream a request URI addresses, or nil. For SETUP
// (track true) the track URL PATH/trackID=0 is accepted too, as is the
// aggregate PATH (both the video), and PATH/trackID=1 when the stream has
// audio (then audio is true).
func (s *Server) lookup(uri string, track bool) (st *stream, audio bool) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, false
	}
	p := normalizePath(u.Path)
	if st := s.streams[p]; st != nil {
		return st, false
	}
	if !track {
		return nil, false
	}
	if base, ok := strings.CutSuffix(p, "/"+trackControl); ok {
		return s.streams[normalizePath(base)], false
	}
	if base, ok := strings.CutSuffix(p, "/"+audioControl); ok {
		if st := s.streams[normalizePath(base)]; st != nil && st.audio != nil {
			return st, true
		}
	}
	return nil, false
}

// buildSDP writes the session description (RFC 4566) with the H.264
// parameters of RFC 6184 §8.1, or the H.265 ones of RFC 7798 §7.1.
func buildSDP(c *Clip, ip net.IP, opts *Options) []byte {
	b64 := base64.StdEncoding.EncodeToString
	encoding := "H264/90000"
	fmtp := "packetization-mode=1"
	if c.H265 {
		encoding, fmtp = "H265/90000", ""
		switch {
		case opts.NoSprop:
		case opts.SpropOnlySPS:
			fmtp = "sprop-sps=" + b64(c.SPS)
		default:
			fmtp = "sprop-vps=" + b64(c.VPS) + ";sprop-sps=" + b64(c.SPS) + ";sprop-pps=" + b64(c.PPS)
		}
	} else {
		if len(c.SPS) >= 4 {
			fmtp += ";profile-level-id=" + hex.EncodeToString(c.SPS[1:4])
		}
		switch {
		case opts.NoSprop:
		case opts.SpropOnlySPS:
			fmtp += ";sprop-parameter-sets=" + b64(c.SPS)
		default:
			fmtp += ";sprop-parameter-sets=" + b64(c.SPS) + "," + b64(c.PPS)
		}
	}
	fmtpLine := ""
	if fmtp != "" {
		fmtpLine = "a=fmtp:" + strconv.Itoa(payloadType) + " " + fmtp + "\r\n"
	}
	ipv := "IP4"
	if ip.To4() == nil {
		ipv = "IP6"
	}
	return []byte("v=0\r\n" +
		"o=- 1 1 IN " + ipv + " " + ip.String() + "\r\n" +
		"s=nvr testcam " + c.Name + "\r\n" +
		"c=IN " + ipv + " " + ip.String() + "\r\n" +
		"t=0 0\r\n" +
		"a=tool:nvr-testcam\r\n" +
		"a=control:*\r\n" +
		"m=video 0 RTP/AVP " + strconv.Itoa(payloadType) + "\r\n" +
		"a=rtpmap:" + strconv.Itoa(payloadType) + " " + encoding + "\r\n" +
		fmtpLine +
		"a=control:" + trackControl + "\r\n" +
		audioSDP(opts))
}

// audioSDP is the audio track's media section (Options.Audio), or "".
func audioSDP(opts *Options) string {
	if !opts.Audio {
		return ""
	}
	pt := strconv.Itoa(audioPayloadType)
	return "m=audio 0 RTP/AVP " + pt + "\r\n" +
		"a=rtpmap:" + pt + " PCMU/" + strconv.Itoa(AudioRate) + "\r\n" +
		"a=ptime:" + strconv.Itoa(AudioPacketSamples*1000/AudioRate) + "\r\n" +
		"a=control:" + audioControl + "\r\n"
}

// Accept retry pauses after a transient error: short enough to recover
// quickly, long enough not to spin while file descriptors are exhausted.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// maxConns bounds the connections one server holds (two goroutines each):
// far above any test's or the load test's need, low enough that a client
// loop on a demo network cannot exhaust the process.
const maxConns = 1024

// trackControl is the control attribute of the video track.
const trackControl = "trackID=0"

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (EMFILE, ECONNABORTED): wait and
			// retry, as net/http does, rather than stop serving.
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if len(s.conns) >= maxConns {
			s.mu.Unlock()
			s.stats.rejected.Add(1) // before Close: a client seeing EOF sees the count
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.stats.connections.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(s.ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// URL returns the stream URL, with the credentials when Username is set:
// rtsp://[user:pass@]127.0.0.1:PORT/cam.
func (s *Server) URL() string { return s.url }

// URLFor returns the URL of the stream at path (one of Options.Streams),
// with credentials like URL.
func (s *Server) URLFor(path string) string {
	u := url.URL{Scheme: "rtsp", Host: s.ln.Addr().String(), Path: normalizePath(path)}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// Addr returns the TCP listen address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Connections:    c.connections.Load(),
		Rejected:       c.rejected.Load(),
		Sessions:       c.sessions.Load(),
		ActiveSessions: c.active.Load(),
		Plays:          c.plays.Load(),
		Teardowns:      c.teardowns.Load(),
		Keepalives:     c.keepalives.Load(),
		Expired:        c.expired.Load(),
		AuthFailures:   c.authFailures.Load(),
		PacketsSent:    c.packets.Load(),
		PacketsDropped: c.dropped.Load(),
		FramesSent:     c.frames.Load(),
		BytesSent:      c.bytes.Load(),
		MediaWrites:    c.mediaWrites.Load(),
		AudioPackets:   c.audioPackets.Load(),
	}
}

// PathSessions returns how many sessions SETUP created for the stream at
// path (Path or one of Options.Streams) and how many of them exist now;
// zeros for an unknown path. Tests use it to count a camera's sessions per
// stream.
func (s *Server) PathSessions(path string) (created, active int64) {
	st := s.streams[normalizePath(path)]
	if st == nil {
		return 0, 0
	}
	return st.sessions.Load(), st.active.Load()
}

// Close stops listening, closes every connection and session, and waits
// for all of the Server's goroutines to end. It is safe to call twice.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		err := s.ln.Close()
		s.wg.Wait()
		s.rtp.Close()
		s.rtcp.Close()
		if err != nil {
			s.closeErr = fmt.Errorf("testcam: close listener: %w", err)
		}
	})
	return s.closeErr
}
