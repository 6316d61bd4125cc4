package testcam

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Auth schemes accepted in Options.Auth.
const (
	AuthNone         = ""
	AuthBasic        = "basic"         // RFC 2617 §2 Basic
	AuthDigest       = "digest"        // RFC 2617 §3 Digest, MD5, qop=auth offered
	AuthDigestSHA256 = "digest-sha256" // RFC 7616 Digest with SHA-256 only (SHA-256-only firmware)
)

// Malformed DESCRIBE responses accepted in Options.Response (RELIABILITY.md R1–R4).
const (
	ResponseNormal           = ""
	ResponseBadContentLength = "bad-content-length" // R1: Content-Length: 1000000000000
	ResponseHugeHeaders      = "huge-headers"       // R2: 10,000 header lines
	ResponseDrip             = "drip"               // R3: one byte per DripInterval, never finishing quickly
	ResponseGarbage          = "garbage"            // random non-RTSP bytes
	ResponseSilent           = "silent"             // R4: requests are read and never answered, from the first
)

const (
	defaultPath           = "/cam"
	defaultAddr           = "127.0.0.1:0"
	defaultSessionTimeout = 60   // seconds; the usual camera default (RFC 2326 §12.37)
	defaultMaxPacketSize  = 1400 // fits a 1500-byte Ethernet MTU with IP/UDP/RTP headers
	defaultDripInterval   = time.Second

	// minMaxPacketSize keeps FU-A fragments meaningful: an FU-A needs two
	// header bytes and at least one byte of the NAL unit.
	minMaxPacketSize = 16
	// maxMaxPacketSize keeps header+payload inside one interleaved frame,
	// whose length field is 16 bits (RFC 2326 §10.12), and one UDP datagram.
	maxMaxPacketSize = 65000
	// maxSessionTimeout bounds the announced timeout to an hour: longer
	// values only hide keepalive bugs.
	maxSessionTimeout = 3600
	// maxSpeed bounds pacing: beyond this the server is a packet pump, not
	// a camera, and timers fire faster than they are useful.
	maxSpeed = 1000
	// maxStreams bounds Options.Streams: each stream builds an SDP and
	// this is a camera, not a media server.
	maxStreams = 64
)

// ErrInvalidOptions is wrapped by every error Start returns for bad Options.
var ErrInvalidOptions = errors.New("testcam: invalid options")

// Options configures a test camera. The zero value is a working camera
// serving ClipMain720 at rtsp://127.0.0.1:PORT/cam without authentication.
type Options struct {
	Clip               string // clip name, default ClipMain720
	Path               string // stream path, default "/cam"
	Username, Password string
	Auth               string // "" (none), "basic", "digest" (MD5, qop=auth), "digest-sha256"
	Addr               string // listen address, default "127.0.0.1:0"

	// Streams adds more streams to the same server: path → clip name,
	// each served like Path (same auth, same faults). Optional.
	Streams map[string]string

	// Audio adds an audio track to every stream: G.711 µ-law at 8 kHz
	// (PCMU, RFC 3551), silent but for a 100 ms 1 kHz beep starting where
	// each loop of the clip starts, so a test can relate sound to picture.
	// It has its own SSRC, sequence numbers and RTP clock, is set up by a
	// second SETUP (control trackID=1) in the same session, TCP or UDP
	// like the video, and is named in RTP-Info. The faults act on the
	// video packets only (StallAfter and CloseAfter stop both).
	Audio bool

	// Faults, all off by default. Durations are wall time from PLAY, not
	// scaled by Speed.

	// CloseAfter closes the TCP connection this long after PLAY (camera
	// reboot, RELIABILITY.md F1).
	CloseAfter time.Duration
	// StallAfter stops sending media this long after PLAY but keeps the
	// connection open and keeps answering requests (F2).
	StallAfter time.Duration
	// DropEvery drops every Nth RTP packet (N >= 2); its sequence number
	// is consumed, so the receiver sees a gap.
	DropEvery int
	// ReorderEvery holds back every Nth RTP packet (N >= 2) and sends it
	// after the next one.
	ReorderEvery int
	// SPSChangeAfter switches, this long after PLAY and at the next
	// keyframe, to SPSChangeClip (default ClipBase240, or ClipMain720 when
	// Clip is ClipBase240, or Clip itself for an H.265 clip); the new
	// SPS/PPS arrive in-band only (R18).
	SPSChangeAfter time.Duration
	SPSChangeClip  string
	// NoSprop leaves sprop-parameter-sets out of the SDP (HIK Media Server).
	NoSprop bool
	// SpropOnlySPS puts only the SPS in sprop-parameter-sets (Hikvision).
	SpropOnlySPS bool
	// Response makes the DESCRIBE response malformed or oversized: one of
	// the Response* constants (R1–R4). Requests before DESCRIBE (OPTIONS)
	// are answered normally, except with "silent", which answers nothing.
	Response string
	// DripInterval is the pause between bytes for Response "drip",
	// default one second.
	DripInterval time.Duration
	// SessionTimeout is the timeout in seconds announced in the Session
	// header (default 60).
	SessionTimeout int
	// RequireKeepalive closes the session when no RTSP request arrives
	// within SessionTimeout (F3). RTCP receiver reports do not count: some
	// cameras only honour RTSP keepalives.
	RequireKeepalive bool
	// MaxPacketSize is the largest RTP payload; bigger NAL units are sent
	// as FU-A. Default 1400; up to 10000 and beyond for UDP tests (Tapo
	// sends 10,000-byte datagrams).
	MaxPacketSize int
	// SSRC is the fixed SSRC; random when 0.
	SSRC uint32
	// TimestampBase is the RTP timestamp of the first frame and
	// SequenceBase the first sequence number; random when 0. Set them
	// near 2^32 and 2^16 to make the wraps happen early (RELIABILITY.md
	// R14, R16).
	TimestampBase uint32
	SequenceBase  uint16
	// AnnounceSSRC puts ssrc= in the SETUP Transport header and in
	// RTP-Info (as RFC 7826 and many cameras do).
	AnnounceSSRC bool
	// Speed divides the pacing: 2 sends a 25 fps clip at 50 frames per
	// second of wall time. RTP timestamps are unchanged. Default 1.
	Speed float64
	// FrameWrites sends, over TCP, all packets of a frame with one
	// writev. By default each RTP packet is its own write, as MediaMTX,
	// GStreamer and cameras send them: a client then sees one TCP segment
	// (and, if it reads eagerly, one wake-up) per packet, about 360 a
	// second at 4 Mbit/s instead of 25. FrameWrites is cheaper for the
	// camera and flatters the client; it is kept for comparison.
	FrameWrites bool
}

// withDefaults returns a copy of o with defaults filled in.
func (o Options) withDefaults() Options {
	if o.Clip == "" {
		o.Clip = ClipMain720
	}
	if o.Path == "" {
		o.Path = defaultPath
	}
	o.Path = normalizePath(o.Path)
	if len(o.Streams) > 0 {
		streams := make(map[string]string, len(o.Streams))
		for p, c := range o.Streams {
			streams[normalizePath(p)] = c
		}
		o.Streams = streams
	}
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.SPSChangeClip == "" {
		o.SPSChangeClip = ClipBase240
		switch {
		case o.Clip == ClipBase240:
			o.SPSChangeClip = ClipMain720
		case slices.Contains(H265ClipNames, o.Clip):
			o.SPSChangeClip = o.Clip // the only H.265 clip
		}
	}
	if o.DripInterval == 0 {
		o.DripInterval = defaultDripInterval
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = defaultSessionTimeout
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = defaultMaxPacketSize
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	return o
}

// normalizePath gives a stream path one leading and no trailing slash.
func normalizePath(p string) string {
	p = "/" + strings.Trim(p, "/")
	return p
}

// Validate reports every problem with the options (after defaults are
// applied), each naming its field.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	known := func(name string) bool {
		return slices.Contains(ClipNames, name) || slices.Contains(H265ClipNames, name)
	}
	if !known(o.Clip) {
		bad("Clip", "unknown clip %q", o.Clip)
	}
	if !known(o.SPSChangeClip) {
		bad("SPSChangeClip", "unknown clip %q", o.SPSChangeClip)
	} else if slices.Contains(H265ClipNames, o.Clip) != slices.Contains(H265ClipNames, o.SPSChangeClip) {
		bad("SPSChangeClip", "clip %q is not of the same codec as %q (the SDP names one)", o.SPSChangeClip, o.Clip)
	}
	if strings.ContainsAny(o.Path, " \r\n\t?#") {
		bad("Path", "must not contain spaces, control characters, '?' or '#'")
	}
	if len(o.Streams) > maxStreams {
		bad("Streams", "at most %d, got %d", maxStreams, len(o.Streams))
	}
	for p, c := range o.Streams {
		if strings.ContainsAny(p, " \r\n\t?#") {
			bad("Streams", "path %q must not contain spaces, control characters, '?' or '#'", p)
		}
		if p == o.Path {
			bad("Streams", "path %q is also Path", p)
		}
		if !known(c) {
			bad("Streams", "path %q: unknown clip %q", p, c)
		}
	}
	switch o.Auth {
	case AuthNone:
	case AuthBasic, AuthDigest, AuthDigestSHA256:
		if o.Username == "" {
			bad("Username", "required when Auth is %q", o.Auth)
		}
	default:
		bad("Auth", "unknown scheme %q", o.Auth)
	}
	if strings.ContainsAny(o.Username, ":\r\n") {
		bad("Username", "must not contain ':' or line breaks")
	}
	switch o.Response {
	case ResponseNormal, ResponseBadContentLength, ResponseHugeHeaders, ResponseDrip, ResponseGarbage, ResponseSilent:
	default:
		bad("Response", "unknown response fault %q", o.Response)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"CloseAfter", o.CloseAfter}, {"StallAfter", o.StallAfter}, {"SPSChangeAfter", o.SPSChangeAfter}, {"DripInterval", o.DripInterval}} {
		if d.v < 0 {
			bad(d.name, "must not be negative")
		}
	}
	if o.DropEvery < 0 || o.DropEvery == 1 {
		bad("DropEvery", "must be 0 (off) or at least 2, got %d", o.DropEvery)
	}
	if o.ReorderEvery < 0 || o.ReorderEvery == 1 {
		bad("ReorderEvery", "must be 0 (off) or at least 2, got %d", o.ReorderEvery)
	}
	if o.SessionTimeout < 1 || o.SessionTimeout > maxSessionTimeout {
		bad("SessionTimeout", "must be 1..%d seconds, got %d", maxSessionTimeout, o.SessionTimeout)
	}
	if o.MaxPacketSize < minMaxPacketSize || o.MaxPacketSize > maxMaxPacketSize {
		bad("MaxPacketSize", "must be %d..%d, got %d", minMaxPacketSize, maxMaxPacketSize, o.MaxPacketSize)
	}
	if !(o.Speed > 0 && o.Speed <= maxSpeed) {
		bad("Speed", "must be in (0, %d], got %v", maxSpeed, o.Speed)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}
