// Package h264 turns RTP packets carrying H.264 (RFC 6184) into access units
// with 64-bit presentation and decode times, a keyframe flag and the
// parameter sets in force, and it reads the facts a recorder needs from a
// sequence parameter set (size, profile, level, frame rate).
//
// It owns: depacketizing (single NAL unit, STAP-A and FU-A packets of
// packetization-mode 0 and 1), grouping NAL units into access units,
// detecting loss from RTP sequence numbers, extending RTP timestamps past
// their 32-bit wrap, deriving decode times when the stream has B-frames,
// and parameter sets from the SDP (sprop-parameter-sets) or in-band.
//
// It does not own: parsing RTP headers (pion/rtp does that), choosing which
// SSRC to trust (the RTSP layer), deciding what a timestamp jump means for a
// recording (the recorder), or writing MP4. It is a pure leaf: it starts no
// goroutines, does no I/O and does not log; it reports through returned
// errors and Stats.
package h264

import (
	"errors"

	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// Limits on what one access unit may hold. They bound the memory a hostile
// or broken camera can make us hold per stream.
const (
	// MaxAccessUnitSize bounds the bytes of one access unit (the bound
	// nalrtp applies to H.264 and H.265 alike).
	MaxAccessUnitSize = nalrtp.MaxAccessUnitSize

	// MaxNALUsPerAccessUnit bounds the NAL units kept per access unit. x264
	// with sliced threads at 4K stays below 25, and cameras that slice a
	// picture send far fewer; filler data (type 12) is discarded and not
	// counted, since nothing downstream needs it.
	MaxNALUsPerAccessUnit = 25
)

// Sentinel errors. Push wraps one of them in every error it returns, so
// callers can count outcomes with errors.Is; none of them is fatal.
var (
	// ErrPacketLoss reports missing, late or out-of-order packets (sequence
	// gap, FU-A fragment without its start); the damaged access unit is
	// dropped and output resumes at the next keyframe.
	ErrPacketLoss = errors.New("h264: packet loss")
	// ErrMalformed reports a packet or parameter set that breaks RFC 6184
	// or H.264 syntax.
	ErrMalformed = errors.New("h264: malformed packet")
	// ErrTooLarge reports an access unit over MaxAccessUnitSize or
	// MaxNALUsPerAccessUnit.
	ErrTooLarge = errors.New("h264: access unit too large")
	// ErrNoParams reports a keyframe that arrived before any usable SPS and
	// PPS were known.
	ErrNoParams = errors.New("h264: no SPS/PPS yet")
	// ErrTiming reports an access unit whose decode time could not be
	// derived from its picture order count; it is dropped and output
	// resumes at the next keyframe.
	ErrTiming = errors.New("h264: cannot derive decode time")
)

// AccessUnit is one picture in decode order. NALUs are without start codes.
// The AccessUnit and the memory its NALUs point to are only valid during the
// callback that receives it (buffers are reused). SPS and PPS are the
// exception: those slices are never modified after they are handed out, so
// they may be kept.
type AccessUnit struct {
	NALUs    [][]byte
	PTS      int64 // 90 kHz, extended to 64 bits (RTP 32-bit wrap handled, R14), continuous for the session
	DTS      int64 // 90 kHz decode time; == PTS when the stream has no B-frames; DTS <= PTS
	Keyframe bool  // contains an IDR slice (and the decoder has SPS+PPS for it)
	SPS, PPS []byte
	// Params is SPS and PPS parsed, once per change: every access unit
	// until the next change shares the same pointer, so a consumer need
	// never parse them again. Nil only when SPS or PPS is missing.
	Params *Params
	// ParamsChanged is true on the first AU and whenever SPS or PPS bytes
	// differ from the previous AU's.
	ParamsChanged bool
}

// Stats counts what a Depacketizer has seen since it was made. Reset does
// not clear it.
type Stats = nalrtp.Stats
