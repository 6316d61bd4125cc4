// Package testcam is a test camera: an RTSP 1.0 server (RFC 2326) that
// loops an embedded H.264 clip over RTP (RFC 3550, RFC 6184) with correct
// timing, TCP interleaved or UDP unicast, optional Basic/Digest
// authentication, and knobs for the faults real cameras show (closed
// connections, stalls, loss, reordering, SPS changes, malformed responses).
//
// It owns the clips, their packetization and the server side of the
// protocol. It does not record, decode or validate H.264, and it is not a
// general RTSP server: one video track per path (and with Options.Audio a
// G.711 track of beeps made in Go, see audio.go), one session per TCP
// connection, no PAUSE, no RECORD, no multicast. It is ordinary code (used
// by end-to-end tests, the load test and `nvr demo`), so it starts no
// goroutine it does not wait for and never logs.
//
// # Time
//
// Each session picks a random RTP timestamp base and a random first
// sequence number (RFC 3550 §5.1). A frame's RTP timestamp is
// base + PTS + offset, where offset grows by the clip's duration at each
// loop (and is reset at an SPS change so presentation time continues), so
// timestamps are continuous across loops and wrap at 2^32 like a camera's.
// A frame is sent when its decode time, counted from the first frame, has
// passed on the wall clock, divided by Speed; the PLAY response's RTP-Info
// gives the first packet's seq and rtptime. RTCP sender reports (every
// 5 s) pair a frame's RTP timestamp with the wall time it was due.
//
// # Cost
//
// Each clip is packetized once per payload size and shared by every
// session and loop; a session writes one RTP header per packet and, over
// TCP, one write per packet as real servers do (or one writev per frame
// with Options.FrameWrites), with no allocation in steady state. Each
// session has two goroutines: the connection reader and the streamer,
// which sleeps on one timer between frames.
package testcam
