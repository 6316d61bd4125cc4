// Package rtsp is nvr's RTSP client (RFC 2326, with RFC 7826 where it is
// clearer). It owns the control connection to a camera: the requests and
// their responses (OPTIONS, DESCRIBE, SETUP, PLAY, keepalives, TEARDOWN),
// Basic and Digest authentication, control-URL resolution, SDP pre-cleaning
// and track extraction, the TCP-interleaved and UDP transports, RTCP receiver
// reports, each track's last RTCP sender report (SenderReports, for the
// recorder's lip sync), and every bound and deadline on what a camera sends.
//
// It does not own H.264: it hands raw RTP packets of the video track to the
// caller, and reports the SDP's sprop-parameter-sets verbatim for
// recorder/h264 to decode. It does not reconnect or log; a caller (the
// recorder job) decides what to do with the typed errors it returns.
//
// The message syntax (bounded parsing of responses and server requests,
// the interleaved frame reader, request rendering) is the pure leaf package
// rtspmsg, fuzzed on its own; this package adds sessions, auth, SDP and
// transports on top.
//
// Camera workarounds are named in comments where they are handled, with the
// vendor or the behaviour; each has a test feeding the exact bytes.
package rtsp
