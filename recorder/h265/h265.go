// Package h265 turns RTP packets carrying H.265 (RFC 7798) into access units
// with 64-bit presentation and decode times, a keyframe flag and the
// parameter sets in force, and it reads the facts a recorder needs from a
// sequence parameter set (size, profile, tier, level, frame rate, reorder
// depth). It is the sibling of recorder/h264 and behaves the same way.
//
// It owns: depacketizing single NAL unit packets, aggregation packets (AP)
// and fragmentation units (FU) without DONL (sprop-max-don-diff absent or
// 0; a camera that announces DONL is refused by CheckFmtp), grouping NAL
// units into access units, dropping the RASL pictures of a CRA that output
// starts at, parameter sets from the SDP (sprop-vps, sprop-sps, sprop-pps)
// or in-band, and the RFC 6381 codec string.
//
// The RTP state machine (loss, timestamp extension, bounds, keyframe
// gating, decode times) is recorder/internal/nalrtp's, shared with H.264;
// the SPS facts are internal/h265ps's, shared with the MP4 writers. It
// does not own parsing RTP headers, choosing the SSRC, judging timestamp
// jumps, or writing MP4. A pure leaf: no goroutines, no I/O, no logging.
package h265

import (
	"errors"

	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
)

// Limits on what one access unit may hold.
const (
	// MaxAccessUnitSize bounds the bytes of one access unit (the bound
	// nalrtp applies to H.264 and H.265 alike).
	MaxAccessUnitSize = nalrtp.MaxAccessUnitSize

	// MaxNALUsPerAccessUnit bounds the NAL units kept per access unit: the
	// same 25 as recorder/h264 (mediacommon's h265 bound is 21). Cameras
	// code one to a few slice segments per picture plus VPS, SPS, PPS and
	// SEI; a 4K picture in many tiles sent one slice each still fits.
	// Filler data (type 38) is discarded and not counted.
	MaxNALUsPerAccessUnit = 25
)

// Sentinel errors. Push wraps one of them in every error it returns, so
// callers can count outcomes with errors.Is; none of them is fatal.
var (
	// ErrPacketLoss reports missing, late or out-of-order packets (sequence
	// gap, FU fragment without its start); the damaged access unit is
	// dropped and output resumes at the next keyframe.
	ErrPacketLoss = errors.New("h265: packet loss")
	// ErrMalformed reports a packet or parameter set that breaks RFC 7798
	// or H.265 syntax.
	ErrMalformed = errors.New("h265: malformed packet")
	// ErrTooLarge reports an access unit over MaxAccessUnitSize or
	// MaxNALUsPerAccessUnit.
	ErrTooLarge = errors.New("h265: access unit too large")
	// ErrNoParams reports a keyframe that arrived before a usable VPS, SPS
	// and PPS were known.
	ErrNoParams = errors.New("h265: no VPS/SPS/PPS yet")
	// ErrTiming reports an access unit whose decode time could not be
	// derived; it is dropped and output resumes at the next keyframe.
	ErrTiming = errors.New("h265: cannot derive decode time")
	// ErrDONL reports an SDP whose sprop-max-don-diff or
	// sprop-depack-buf-nalus says packets carry decoding order numbers
	// (RFC 7798 §4.4.1, §7.1): nvr does not reorder NAL units by DON.
	ErrDONL = errors.New("h265: the camera sends DONL (sprop-max-don-diff > 0), which nvr does not support; set the camera to send NAL units in decoding order")
)

// AccessUnit is one picture in decode order. NALUs are without start codes.
// The AccessUnit and the memory its NALUs point to are only valid during the
// callback that receives it (buffers are reused). VPS, SPS and PPS are the
// exception: those slices are never modified after they are handed out, so
// they may be kept.
type AccessUnit struct {
	NALUs         [][]byte
	PTS           int64 // 90 kHz, extended to 64 bits (RTP 32-bit wrap handled, R14), continuous for the session
	DTS           int64 // 90 kHz decode time; == PTS when the stream has no B-frames; DTS <= PTS
	Keyframe      bool  // an IRAP picture (IDR, CRA or BLA) and the decoder has VPS+SPS+PPS for it
	VPS, SPS, PPS []byte
	// Params is the parameter sets parsed, once per change: every access
	// unit until the next change shares the same pointer. Nil only when a
	// parameter set is missing.
	Params *Params
	// ParamsChanged is true on the first AU and whenever VPS, SPS or PPS
	// bytes differ from the previous AU's.
	ParamsChanged bool
}

// Stats counts what a Depacketizer has seen since it was made. Reset does
// not clear it.
type Stats = nalrtp.Stats
