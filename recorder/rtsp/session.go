package rtsp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

// Defaults and bounds of a session.
const (
	defaultDialTimeout     = 5 * time.Second
	defaultResponseTimeout = 10 * time.Second // whole response, R3
	defaultMediaTimeout    = 10 * time.Second // no video RTP, F2
	defaultUserAgent       = "nvr"
	// maxRedirects bounds 3xx hops so two servers cannot bounce us forever.
	maxRedirects = 3
	// maxAuthRetries: one retry answering the first 401, one more only when
	// the server says the nonce is stale (RFC 2617 §3.2.1).
	maxAuthRetries = 2
	// teardownTimeout bounds the best-effort TEARDOWN in Close.
	teardownTimeout = 2 * time.Second
	// writeTimeout: a camera that does not take a few hundred bytes in this
	// long is gone; the write fails rather than blocking a keepalive.
	writeTimeout = 5 * time.Second
	// rrInterval: RTCP receiver reports at most every 5 s; some servers time
	// out a UDP session without them (gortsplib client.go, retina).
	rrInterval = 5 * time.Second
	// maxEarlyPackets and maxEarlyBytes bound the RTP kept when it arrives
	// before the PLAY reply (R5): about a second of a busy stream.
	maxEarlyPackets = 1024
	maxEarlyBytes   = 4 << 20
	// maxUDPPacket is the largest UDP payload; Tapo sends 10,000-byte
	// datagrams, so a 1500-byte buffer would truncate them.
	maxUDPPacket = 65535
	// adoptAfter: when a server announced an SSRC (or the SDP a payload
	// type) and for this long sends only packets with another one, the
	// announcement was wrong rather than the packets stale; accept them.
	// Stale live555 data (F4) comes together with the new session's own
	// packets, which arrive well within this window.
	adoptAfter = 3 * time.Second
	// maxPortAttempts bounds the search for an even/odd UDP port pair.
	maxPortAttempts = 32
)

// Config describes one camera stream to open.
type Config struct {
	URL             string        // rtsp[s]://user:pass@host[:port]/path; user/pass percent-decoded
	Transport       string        // "tcp" (default, interleaved) or "udp"; rtsps:// needs tcp
	SDP             []byte        // out-of-band SDP; when non-nil DESCRIBE is skipped
	SkipOptions     bool          // do not send OPTIONS first
	DialTimeout     time.Duration // default 5s
	ResponseTimeout time.Duration // whole-response deadline, default 10s
	MediaTimeout    time.Duration // no RTP on the video track for this long => ErrMediaTimeout, default 10s
	UserAgent       string        // default "nvr"

	// Auth is AuthAny (the default: the strongest scheme offered) or
	// AuthDigest (Basic refused altogether, for cameras known to do Digest).
	Auth string
	// AuthMemory carries what hosts offered across the sessions of one
	// camera, so that a host that offered Digest once is never answered
	// with Basic later. Nil: remembered for this Open only.
	AuthMemory *AuthMemory

	// TLSFingerprint pins the certificate of an rtsps:// camera
	// ("sha256:" and the hex SHA-256 of its DER, see ParseFingerprint):
	// that certificate is accepted, and no other. Empty: the certificate
	// must chain to RootCAs for the URL's host.
	TLSFingerprint string
	// RootCAs verifies unpinned certificates; nil means the system roots.
	RootCAs *x509.CertPool

	// AudioTrack, when set, picks an audio track to set up besides the
	// video: the first of the SDP's tracks for which it returns true.
	// Audio never fails Open: a refused or broken audio SETUP leaves the
	// session with its video, and Info.AudioErr says why.
	AudioTrack func(Track) bool
}

func (c Config) withDefaults() Config {
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	c.Transport = strings.ToLower(c.Transport)
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = defaultResponseTimeout
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = defaultMediaTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	c.Auth = strings.ToLower(c.Auth)
	if c.Auth == "" {
		c.Auth = AuthAny
	}
	if c.TLSFingerprint != "" {
		c.TLSFingerprint, _ = ParseFingerprint(c.TLSFingerprint) // validated
	}
	return c
}

// Validate returns every problem of the configuration, each naming its
// field; the URL's password never appears.
func (c Config) Validate() error {
	var errs []error
	u, err := parseCameraURL(c.URL)
	if cerr := checkUserinfo(c.URL); cerr != nil {
		errs = append(errs, fmt.Errorf("URL: %w", cerr))
	} else if err != nil {
		errs = append(errs, fmt.Errorf("URL: %w", err))
	}
	switch strings.ToLower(c.Transport) {
	case "", "tcp":
	case "udp":
		if u.tls {
			// RTP over UDP would leave the TLS connection in the clear
			// (SRTP, RTP/SAVP, is not supported).
			errs = append(errs, errors.New("Transport: udp is not possible with rtsps:// (the video would not be encrypted); use tcp"))
		}
	default:
		errs = append(errs, fmt.Errorf("Transport: %q is not tcp or udp", clip(c.Transport)))
	}
	switch strings.ToLower(c.Auth) {
	case "", AuthAny, AuthDigest:
	default:
		errs = append(errs, fmt.Errorf("Auth: %q is not %s or %s", clip(c.Auth), AuthAny, AuthDigest))
	}
	if c.TLSFingerprint != "" {
		if _, err := ParseFingerprint(c.TLSFingerprint); err != nil {
			errs = append(errs, fmt.Errorf("TLSFingerprint: %w", err))
		} else if !u.tls {
			errs = append(errs, errors.New("TLSFingerprint: set, but the URL is not rtsps://"))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"ResponseTimeout", c.ResponseTimeout}, {"MediaTimeout", c.MediaTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: negative (%s)", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Track is one media section of the SDP.
type Track struct {
	Type        string            // "video", "audio", "application"
	Codec       string            // rtpmap encoding name upper-cased: "H264", "MPEG4-GENERIC", "PCMU", ...
	ClockRate   int               // Hz
	PayloadType uint8             // RTP payload type
	Control     string            // resolved absolute control URL (credentials stripped)
	Fmtp        map[string]string // fmtp parameters, keys lower-cased
	Channels    int               // from the rtpmap ("opus/48000/2"); 0 when absent
}

// VideoTrack is the H.264 or H.265 track (Codec "H264" or "H265"), with
// H.264's RFC 6184 §8.1 parameters; H.265's sprop-vps/sps/pps and DONL
// parameters (RFC 7798 §7.1) are in Fmtp, which recorder/video reads.
type VideoTrack struct {
	Track
	PacketizationMode  int
	ProfileLevelID     string
	SpropParameterSets string // raw value (H.264); recorder/h264.ParseSprop decodes it
}

// Info describes an open session.
type Info struct {
	URL       string     // the camera URL redacted (redact.URL)
	Server    string     // Server header
	Methods   []string   // from OPTIONS Public (nil when skipped)
	Transport string     // "tcp" or "udp"
	Tracks    []Track    // every track of the SDP
	Video     VideoTrack // the H.264 track that was set up
	Audio     *Track     // the audio track that was set up, if any (Config.AudioTrack)
	AudioErr  string     // why no audio track was set up although one was wanted and offered
	// RTPInfo, when the PLAY reply's RTP-Info gave an rtptime for both
	// the video and the audio track, holds them: the two streams' RTP
	// timestamps at one instant, which relates the audio clock to the
	// video's (lip sync).
	RTPInfo        *RTPInfoTimes
	SessionTimeout time.Duration // from the Session header, default 60s
	TLSFingerprint string        // rtsps: the certificate connected to (Fingerprint), else ""
}

// RTPInfoTimes are the RTP timestamps of the video and the audio track
// at the same instant, from RTP-Info.
type RTPInfoTimes struct {
	Video, Audio uint32
}

// Stats counts what a session received and dropped.
type Stats struct {
	Packets               uint64 // RTP packets of the video track handed to the caller
	Bytes                 uint64 // their size, RTP headers included
	RTCPPackets           uint64 // RTCP frames or datagrams received
	DroppedWrongSSRC      uint64 // SSRC differs from the announced one (stale session, F4)
	DroppedUnknownChannel uint64 // interleaved data on a channel we did not set up
	DroppedWrongSource    uint64 // UDP datagrams from another address or port (R19)
	KeepalivesSent        uint64
	DroppedMalformed      uint64 // not a valid RTP packet
	DroppedPayloadType    uint64 // another payload type on the video channel (Geovision pt=50)
	DroppedEarly          uint64 // RTP before the PLAY reply beyond the early buffer
	JunkBytes             uint64 // bytes skipped resynchronising the interleaved stream
	AudioPackets          uint64 // RTP packets of the audio track handed to the caller
	DroppedAudio          uint64 // audio packets dropped: malformed, or another payload type
	// ControlReads counts the reads of the control connection: over TCP,
	// Packets / ControlReads is how many RTP packets a read(2) (and a
	// wake-up) carries.
	ControlReads uint64
}

type counters struct {
	packets, bytes, rtcp, wrongSSRC, unknownCh, wrongSrc, keepalives,
	malformed, wrongPT, early, audio, audioDropped atomic.Uint64
}

// Session is an open RTSP session playing one H.264 video track.
// ReadPackets must not be called concurrently with itself; Close may be
// called from any goroutine at any time.
type Session struct {
	cfg  Config
	u    cameraURL
	info Info

	conn  net.Conn
	rd    *rtspmsg.Reader
	reads *connReader // under rd
	mem   *AuthMemory

	// wmu guards writes to conn and the state a request needs: CSeq,
	// authenticator, session id.
	wmu       sync.Mutex
	cseq      int
	auth      *authenticator
	sessionID string

	playURL         string
	keepaliveMethod string

	tcp              bool
	channelsSet      bool
	rtpCh, rtcpCh    uint8
	audioSet         bool         // an audio track was set up interleaved
	audioCh          uint8        // its RTP channel; RTCP on the next one is ignored
	udpAudio         *net.UDPConn // an audio track set up over UDP: its RTP port
	udpAudioRTCP     *net.UDPConn // and its RTCP port
	srcAudioPort     uint16       // the server's audio RTP port (0: any)
	srcAudioRTCPPort uint16       // and its RTCP port (0: any)
	udpRTP           *net.UDPConn
	udpRTCP          *net.UDPConn
	srcIPs           []netip.Addr
	srcRTPPort       uint16 // 0: any port
	srcRTCPPort      uint16
	serverRTCPAddr   *net.UDPAddr

	ssrc      uint32
	ssrcFixed bool
	// Filters on SSRC and payload type are lifted when only mismatching
	// packets have flowed for adoptAfter (see handleRTP).
	adoptAfter time.Duration
	ssrcSeen   bool      // a packet with the announced SSRC arrived
	ssrcMiss   time.Time // first packet with another SSRC while !ssrcSeen
	ptSeen     bool      // a packet with the SDP payload type arrived
	ptMiss     time.Time
	ptAny      bool // payload type filter lifted

	early      [][]byte
	earlyBytes int

	st counters
	rr rrState
	// srMu guards srs, each track's last sender report (TrackKind
	// indexes it), written by whichever goroutine reads the track's RTCP.
	srMu      sync.Mutex
	srs       [2]SenderReport
	localSSRC uint32

	rrInterval        time.Duration
	keepaliveInterval time.Duration

	closeCtx    context.Context
	closeCancel context.CancelFunc
	readMu      sync.Mutex
	closeOnce   sync.Once
	fatal       atomic.Pointer[error]
}

// Open runs OPTIONS (unless skipped), DESCRIBE (unless Config.SDP), SETUP
// (the first H.264 video track only) and PLAY; on any failure it tears down
// what it set up and returns a *Error.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Step: "connect", Kind: ErrProtocol, Err: fmt.Errorf("invalid config: %w", err)}
	}
	cfg = cfg.withDefaults()
	camera, _ := parseCameraURL(cfg.URL) // validated above
	mem := cfg.AuthMemory
	if mem == nil {
		mem = NewAuthMemory()
	}
	u := camera
	for hops := 0; ; hops++ {
		s, err := dial(ctx, cfg, u)
		if err != nil {
			return nil, err
		}
		s.mem = mem
		redirect, err := s.start(ctx)
		if redirect != "" {
			s.closeSockets()
			if hops >= maxRedirects {
				return nil, &Error{Step: "DESCRIBE", Kind: ErrProtocol, Err: fmt.Errorf("more than %d redirects", maxRedirects)}
			}
			nu, perr := parseCameraURL(normaliseAbsolute(u, redirect))
			if perr != nil {
				return nil, &Error{Step: "DESCRIBE", Kind: ErrProtocol, Err: errors.New("redirect to an invalid URL")}
			}
			u = redirectTarget(camera, nu)
			continue
		}
		if err != nil {
			s.teardown()
			s.closeSockets()
			return nil, err
		}
		return s, nil
	}
}

// redirectTarget returns the URL a redirect leads to, with the camera's
// credentials only if it has the camera URL's origin (scheme, host and
// port): a camera that redirects elsewhere — hostile, compromised, or
// reached through a spoofed DNS answer — must not collect the password of
// every camera that shares it (curl's CVE-2018-1000007, CVE-2022-27776).
// Userinfo in the Location itself was stripped by normaliseAbsolute.
func redirectTarget(camera, to cameraURL) cameraURL {
	if to.origin == camera.origin {
		to.user, to.pass, to.hasCreds = camera.user, camera.pass, camera.hasCreds
		return to
	}
	to.user, to.pass, to.hasCreds = "", "", false
	to.withheld = camera.hasCreds
	return to
}

func dial(ctx context.Context, cfg Config, u cameraURL) (*Session, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout}
	var conn net.Conn
	var err error
	var fingerprint string
	if u.tls {
		// The dialer's timeout bounds the TCP connect and the TLS handshake
		// as a whole (crypto/tls Dialer).
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig(cfg, u)}
		conn, err = td.DialContext(ctx, "tcp", u.hostPort)
		if err == nil {
			cs := conn.(*tls.Conn).ConnectionState()
			fingerprint = Fingerprint(cs.PeerCertificates[0].Raw)
		} else if e := tlsDialErr(ctx, err, u); e != nil {
			return nil, e
		}
	} else {
		conn, err = d.DialContext(ctx, "tcp", u.hostPort)
	}
	if err != nil {
		kind := classify(ctx, err)
		if kind == ErrProtocol || kind == ErrClosed {
			kind = ErrRefused
		}
		if kind == ErrRefused || kind == ErrTimeout {
			err = &detailError{msg: u.hostPort, err: err}
		}
		return nil, &Error{Step: "connect", Kind: kind, Err: err}
	}
	reads := newConnReader(conn)
	s := &Session{
		cfg:        cfg,
		u:          u,
		conn:       conn,
		rd:         rtspmsg.NewReader(reads),
		reads:      reads,
		tcp:        cfg.Transport == "tcp",
		rrInterval: rrInterval,
		adoptAfter: adoptAfter,
		localSSRC:  rand.Uint32(),
		mem:        NewAuthMemory(), // Open gives it the camera's
	}
	s.closeCtx, s.closeCancel = context.WithCancel(context.Background())
	s.info = Info{URL: redact.URL(cfg.URL), Transport: cfg.Transport, SessionTimeout: defaultSessionTimeout, TLSFingerprint: fingerprint}
	return s, nil
}

// tlsDialErr turns a failed TLS handshake into an *Error: a refused
// certificate (with its fingerprint) or another handshake failure. It
// returns nil for failures before the handshake (refused, unreachable,
// timed out), which dial reports as for plain RTSP.
func tlsDialErr(ctx context.Context, err error, u cameraURL) *Error {
	var ce *certError
	if errors.As(err, &ce) {
		return &Error{Step: "connect", Kind: ErrCertificate, Err: ce}
	}
	var re tls.RecordHeaderError
	var ae tls.AlertError
	if errors.As(err, &re) || errors.As(err, &ae) || strings.Contains(err.Error(), "tls: ") {
		if ctx.Err() != nil {
			return nil
		}
		// The error text of crypto/tls names neither URL nor password.
		return &Error{Step: "connect", Kind: ErrProtocol, Err: &detailError{msg: "TLS handshake with " + u.hostPort + " failed: " + err.Error(), err: err}}
	}
	return nil
}

// start runs the handshake on a fresh connection. A non-empty redirect
// means the server sent us elsewhere (RFC 2326 §11.3.3).
func (s *Session) start(ctx context.Context) (redirect string, err error) {
	if !s.cfg.SkipOptions {
		resp, err := s.do(ctx, "OPTIONS", &rtspmsg.Request{Method: "OPTIONS", URL: s.u.reqURL})
		if err != nil {
			return "", err
		}
		if isRedirect(resp) {
			return resp.Header.Get("Location"), nil
		}
		// Any other status is tolerated: OPTIONS is optional (RFC 2326
		// §10.1) and some cameras answer it with 404 or 405 yet play fine.
		if resp.Status/100 == 2 {
			s.info.Methods = parsePublic(resp.Header.Values("Public"))
		}
		s.info.Server = resp.Header.Get("Server")
	}

	rawSDP, base := s.cfg.SDP, s.u.reqURL
	if rawSDP == nil {
		req := &rtspmsg.Request{Method: "DESCRIBE", URL: s.u.reqURL}
		req.Add("Accept", "application/sdp")
		resp, err := s.do(ctx, "DESCRIBE", req)
		if err != nil {
			return "", err
		}
		if isRedirect(resp) {
			return resp.Header.Get("Location"), nil
		}
		if resp.Status != 200 {
			return "", statusErr("DESCRIBE", resp)
		}
		if v := resp.Header.Get("Server"); v != "" {
			s.info.Server = v
		}
		if len(resp.Body) == 0 {
			return "", &Error{Step: "DESCRIBE", Kind: ErrProtocol, Err: errors.New("empty SDP")}
		}
		rawSDP = resp.Body
		base = baseURL(s.u, resp.Header.Get("Content-Base"), resp.Header.Get("Content-Location"))
	}
	d, err := parseSDP(rawSDP, s.u, base)
	if err != nil {
		return "", &Error{Step: "DESCRIBE", Kind: ErrProtocol, Err: err}
	}
	s.info.Tracks = d.tracks
	if d.video < 0 {
		return "", &Error{Step: "DESCRIBE", Kind: ErrNoH264, Err: errors.New(describeTracks(d.tracks))}
	}
	s.info.Video = d.videoTrack
	s.playURL = base
	if d.control != "" {
		s.playURL = resolveControl(s.u, base, d.control)
	}
	if err := s.setup(ctx); err != nil {
		return "", err
	}
	if s.cfg.AudioTrack != nil {
		if err := s.setupAudio(ctx, d.tracks); err != nil {
			return "", err
		}
	}
	return "", s.play(ctx)
}

func isRedirect(m *rtspmsg.Message) bool {
	return m.Status >= 300 && m.Status < 400 && m.Header.Get("Location") != ""
}

// statusErr maps a failure status to an error kind.
func statusErr(step string, m *rtspmsg.Message) *Error {
	kind := ErrProtocol
	switch m.Status {
	case 401, 403:
		kind = ErrAuth
	case 404:
		kind = ErrNotFound
	}
	return &Error{Step: step, Kind: kind, Err: fmt.Errorf("server answered %d %s", m.Status, clip(m.Reason))}
}

func (s *Session) setup(ctx context.Context) error {
	req := &rtspmsg.Request{Method: "SETUP", URL: s.info.Video.Control}
	if s.tcp {
		req.Add("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")
	} else {
		var err error
		if s.udpRTP, s.udpRTCP, err = s.listenUDP(); err != nil {
			return &Error{Step: "SETUP", Kind: ErrProtocol, Err: err}
		}
		p := s.udpRTP.LocalAddr().(*net.UDPAddr).Port
		req.Add("Transport", fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", p, p+1))
	}
	resp, err := s.do(ctx, "SETUP", req)
	if err != nil {
		return err
	}
	if resp.Status != 200 {
		return statusErr("SETUP", resp)
	}
	if s.sessionID == "" {
		return &Error{Step: "SETUP", Kind: ErrProtocol, Err: errors.New("reply has no Session header")}
	}
	tr := replyTransport(resp.Header.Get("Transport"))
	if s.tcp {
		// Escam Q6 drops "/TCP" from the reply and others omit the channels;
		// either way the server streams interleaved as we asked, so take
		// the channels it names, else ours.
		s.rtpCh, s.rtcpCh = 0, 1
		if tr.HasInterleaved {
			s.rtpCh, s.rtcpCh = uint8(tr.Interleaved[0]), uint8(tr.Interleaved[1])
		} else if strings.Contains(strings.ToLower(resp.Header.Get("Transport")), "client_port") {
			return &Error{Step: "SETUP", Kind: ErrProtocol, Err: errors.New("server answered a TCP request with a UDP transport")}
		}
		s.channelsSet = true
	} else {
		if tr.TCP() || tr.HasInterleaved {
			return &Error{Step: "SETUP", Kind: ErrProtocol, Err: errors.New("server answered a UDP request with an interleaved transport")}
		}
		s.setUDPPeer(tr)
	}
	if tr.HasSSRC {
		s.ssrc, s.ssrcFixed = tr.SSRC, true
	}
	return nil
}

func (s *Session) play(ctx context.Context) error {
	req := &rtspmsg.Request{Method: "PLAY", URL: s.playURL}
	req.Add("Range", "npt=0.000-")
	resp, err := s.do(ctx, "PLAY", req)
	if err != nil {
		return err
	}
	if resp.Status/100 == 4 && resp.Status != 401 && s.playURL != s.info.Video.Control {
		// Some servers only accept PLAY on the media URL when the SDP has
		// no usable aggregate control; try it once.
		s.playURL = s.info.Video.Control
		req.URL = s.playURL
		if resp, err = s.do(ctx, "PLAY", req); err != nil {
			return err
		}
	}
	if resp.Status != 200 {
		return statusErr("PLAY", resp)
	}
	if !s.ssrcFixed {
		// Reolink announces the SSRC only here.
		if n, ok := rtpInfoSSRC(resp.Header.Get("RTP-Info"), s.info.Video.Control); ok {
			s.ssrc, s.ssrcFixed = n, true
		}
	}
	if s.info.Audio != nil {
		if v, a, ok := rtpInfoTimes(resp.Header.Get("RTP-Info"), s.info.Video.Control, s.info.Audio.Control); ok {
			s.info.RTPInfo = &RTPInfoTimes{Video: v, Audio: a}
		}
	}
	s.keepaliveMethod = "OPTIONS"
	if slices.Contains(s.info.Methods, "GET_PARAMETER") {
		s.keepaliveMethod = "GET_PARAMETER"
	}
	s.keepaliveInterval = max(s.info.SessionTimeout/2, minKeepaliveInterval)
	if !s.tcp {
		s.sendRR() // opens NAT/firewall state towards the server's RTCP port
	}
	return nil
}

// do sends a request and returns its response, answering 401 challenges
// (at most maxAuthRetries times).
func (s *Session) do(ctx context.Context, step string, req *rtspmsg.Request) (*rtspmsg.Message, error) {
	for retries := 0; ; retries++ {
		resp, err := s.roundTrip(ctx, req)
		if err != nil {
			e := stepErr(ctx, step, err)
			if e.Kind == ErrTimeout {
				e.Err = &detailError{msg: fmt.Sprintf("no complete response within %s", s.cfg.ResponseTimeout), err: err}
			}
			return nil, e
		}
		if resp.HTTP {
			return nil, &Error{Step: step, Kind: ErrProtocol, Err: fmt.Errorf("not an RTSP server: %w (HTTP %d %s); is this the camera's web port? RTSP is usually on port 554", rtspmsg.ErrHTTP, resp.Status, clip(resp.Reason))}
		}
		if resp.Status != 401 {
			return resp, nil
		}
		if !s.u.hasCreds {
			if s.u.withheld {
				return nil, &Error{Step: step, Kind: ErrAuth, Err: fmt.Errorf("the camera redirected to %s; credentials are not sent to another host", s.u.hostPort)}
			}
			return nil, &Error{Step: step, Kind: ErrAuth, Err: errors.New("the server wants credentials and the URL has none")}
		}
		cs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
		if retries >= maxAuthRetries || (retries >= 1 && !isStale(cs)) {
			return nil, &Error{Step: step, Kind: ErrAuth, Err: errors.New("the server rejected the credentials")}
		}
		a, err := s.mem.choose(s.u, s.cfg.Auth, cs)
		if err != nil {
			return nil, &Error{Step: step, Kind: ErrAuth, Err: err}
		}
		s.wmu.Lock()
		s.auth = a
		s.wmu.Unlock()
	}
}

// afterFunc is context.AfterFunc whose stop function also waits for f to
// finish if it already started, so no goroutine outlives the caller.
func afterFunc(ctx context.Context, f func()) func() {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() {
		if !stop() {
			<-done
		}
	}
}

// watchCtx makes a cancelled ctx interrupt blocking I/O on conn, and
// returns a stop function that waits for the interrupt to finish if it
// already started.
func watchCtx(ctx context.Context, conn net.Conn) func() {
	return afterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// roundTrip sends req and reads until its response, within one whole
// ResponseTimeout (R3: a server dripping a byte a second cannot extend it).
// Interleaved frames and server requests arriving meanwhile are handled.
func (s *Session) roundTrip(ctx context.Context, req *rtspmsg.Request) (*rtspmsg.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := watchCtx(ctx, s.conn)
	defer func() {
		stop()
		_ = s.conn.SetDeadline(time.Time{})
	}()
	_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.ResponseTimeout))
	cseq, err := s.send(req)
	if err != nil {
		return nil, err
	}
	for {
		it, err := s.rd.Next()
		if err != nil {
			return nil, err
		}
		if it.Frame {
			s.handleEarlyFrame(it)
			continue
		}
		if !it.Msg.Response {
			s.answer(it.Msg)
			continue
		}
		if n, ok := it.Msg.CSeq(); ok && n != cseq {
			continue // a late reply to an earlier request (a keepalive)
		}
		s.noteSession(it.Msg)
		return it.Msg, nil
	}
}

// send writes a request with the session's common headers.
func (s *Session) send(req *rtspmsg.Request) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.cseq++
	r := *req
	r.Header = slices.Clone(req.Header)
	r.Add("User-Agent", s.cfg.UserAgent)
	if s.auth != nil {
		r.Add("Authorization", s.auth.header(r.Method, r.URL))
	}
	if s.sessionID != "" {
		r.Add("Session", s.sessionID)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := s.conn.Write(r.Marshal(s.cseq))
	return s.cseq, err
}

// noteSession records the Session header. The id may change between
// responses (some servers issue a new one per SETUP); the latest wins.
func (s *Session) noteSession(m *rtspmsg.Message) {
	v := m.Header.Get("Session")
	if v == "" {
		return
	}
	id, timeout := parseSession(v)
	if id == "" {
		return
	}
	s.wmu.Lock()
	s.sessionID = id
	s.wmu.Unlock()
	if timeout > 0 {
		s.info.SessionTimeout = timeout
	}
}

// answer replies to a request the server sent us (RFC 2326 §10): servers
// probe clients with OPTIONS or GET_PARAMETER as a liveness check; anything
// else is 501 Not Implemented.
func (s *Session) answer(m *rtspmsg.Message) {
	status, reason := 501, "Not Implemented"
	if m.Method == "OPTIONS" || m.Method == "GET_PARAMETER" {
		status, reason = 200, "OK"
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, _ = s.conn.Write(rtspmsg.MarshalResponse(status, reason, strings.TrimSpace(m.Header.Get("CSeq")), s.sessionID))
}

// handleEarlyFrame deals with an interleaved frame that arrives while we
// wait for a response: RTP before the PLAY reply is kept (bounded) for
// ReadPackets; RTCP (Reolink sends an SR before the PLAY reply) is counted
// and its sender report kept;
// anything on other channels — or before SETUP, which is stale data of an
// earlier session on old live555 (Reolink) — is dropped and counted.
func (s *Session) handleEarlyFrame(it rtspmsg.Item) {
	switch {
	case s.channelsSet && it.Channel == s.rtpCh:
		if len(s.early) >= maxEarlyPackets || s.earlyBytes+len(it.Payload) > maxEarlyBytes {
			s.st.early.Add(1)
			return
		}
		s.early = append(s.early, slices.Clone(it.Payload))
		s.earlyBytes += len(it.Payload)
	case s.channelsSet && it.Channel == s.rtcpCh:
		s.handleRTCP(TrackVideo, it.Payload)
	case s.audioSet && it.Channel == s.audioCh+1:
		s.handleRTCP(TrackAudio, it.Payload)
	case s.audioSet && it.Channel == s.audioCh:
		// Audio before the PLAY reply is not kept: the buffer is the
		// video's, and a few lost audio frames leave only a short gap.
		s.st.audioDropped.Add(1)
	default:
		s.st.unknownCh.Add(1)
	}
}

// Info returns what was negotiated. The slices are copies.
func (s *Session) Info() Info {
	i := s.info
	i.Methods = slices.Clone(i.Methods)
	i.Tracks = slices.Clone(i.Tracks)
	return i
}

// SetReadLatency says how long received media may wait in the socket
// before ReadTracks takes it (plain TCP on Linux: connread.go; elsewhere
// it changes nothing); 0, the default, is at once. A recorder with nobody
// watching sets some; a live viewer wants 0. It may be called from any
// goroutine: it takes effect at the next read, and a lower latency at once.
func (s *Session) SetReadLatency(d time.Duration) {
	s.reads.setLatency(max(d, 0))
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() Stats {
	return Stats{
		Packets:               s.st.packets.Load(),
		Bytes:                 s.st.bytes.Load(),
		RTCPPackets:           s.st.rtcp.Load(),
		DroppedWrongSSRC:      s.st.wrongSSRC.Load(),
		DroppedUnknownChannel: s.st.unknownCh.Load(),
		DroppedWrongSource:    s.st.wrongSrc.Load(),
		KeepalivesSent:        s.st.keepalives.Load(),
		DroppedMalformed:      s.st.malformed.Load(),
		DroppedPayloadType:    s.st.wrongPT.Load(),
		DroppedEarly:          s.st.early.Load(),
		JunkBytes:             s.rd.Junk(),
		AudioPackets:          s.st.audio.Load(),
		DroppedAudio:          s.st.audioDropped.Load(),
		ControlReads:          s.reads.reads.Load(),
	}
}

// Close sends TEARDOWN best-effort (bounded by teardownTimeout), closes the
// sockets and waits for every goroutine the session started. It cancels a
// running ReadPackets first.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closeCancel()
		s.readMu.Lock() // waits for ReadPackets to return
		defer s.readMu.Unlock()
		s.teardown()
		s.closeSockets()
	})
	return nil
}

// teardown sends TEARDOWN (RFC 2326 §10.7) and waits briefly for the reply:
// a camera allows only a few sessions, and one left behind blocks the next
// connection until it times out.
func (s *Session) teardown() {
	s.wmu.Lock()
	id := s.sessionID
	s.wmu.Unlock()
	if id == "" || s.conn == nil {
		return
	}
	_ = s.conn.SetDeadline(time.Now().Add(teardownTimeout))
	url := s.playURL
	if url == "" {
		url = s.info.Video.Control
	}
	cseq, err := s.send(&rtspmsg.Request{Method: "TEARDOWN", URL: url})
	if err != nil {
		return
	}
	for {
		it, err := s.rd.Next()
		if err != nil {
			return
		}
		if it.Msg != nil && it.Msg.Response {
			if n, ok := it.Msg.CSeq(); !ok || n == cseq {
				return
			}
		}
	}
}

func (s *Session) closeSockets() {
	if s.closeCancel != nil {
		s.closeCancel()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	if s.udpRTP != nil {
		_ = s.udpRTP.Close()
	}
	if s.udpRTCP != nil {
		_ = s.udpRTCP.Close()
	}
	if s.udpAudio != nil {
		_ = s.udpAudio.Close()
		_ = s.udpAudioRTCP.Close()
	}
}
