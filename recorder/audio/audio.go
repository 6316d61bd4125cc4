// Package audio turns RTP packets of the audio codecs nvr records into
// timed frames, and converts G.711 into a form browsers play in MP4.
//
// It owns: depacketizing AAC (RFC 3640 MPEG4-GENERIC and RFC 6416
// MP4A-LATM, with ADTS headers some cameras leave inside payloads), G.711
// µ-law and A-law (RFC 3551 PCMU/PCMA), and Opus (RFC 7587); parsing the
// AudioSpecificConfig, StreamMuxConfig and Opus TOC a recorder needs for
// sample entries and durations; loss detection from RTP sequence numbers;
// extending RTP timestamps past their 32-bit wrap; decoding G.711 to 16-bit
// PCM and encoding it as FLAC.
//
// Time model: every Frame carries its own presentation time, taken from RTP
// timestamps (extended to 64 bits, in the track's RTP clock units), never
// from a count of packets, so a lost packet leaves a gap of its length and
// never shifts what follows. A consumer derives a sample's duration from
// the next frame's PTS; Frame.Duration is the frame's own length, for the
// last frame and for sanity checks.
//
// It does not own: parsing RTP headers (pion/rtp), choosing the SSRC to
// trust (the RTSP layer), relating audio to video time (the recorder), or
// writing MP4 (storage/internal/bmff). It is a pure leaf: no goroutines, no
// I/O, no logging; it reports through returned errors and Stats.
package audio

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/internal/rtpseq"
)

// Limits bounding what a hostile or broken camera can make us hold.
const (
	// MaxFrameSize bounds one audio frame (an AAC access unit, an Opus
	// packet). AAC allows at most 6144 bits per channel per frame (ISO/IEC
	// 14496-3 §4.5.3.1), 6 KiB for 8 channels; RFC 3640's usual
	// sizelength=13 cannot say more than 8191; an Opus packet is at most
	// 48 frames of 1275 bytes but cameras send one 20 ms frame, so 8 KiB
	// covers every real stream.
	MaxFrameSize = 8 << 10
	// MaxFramesPerPacket bounds the frames taken from one RTP packet (AAC
	// AU-headers, LATM subframes): a 1500-byte packet of real AAC holds a
	// handful; 64 leaves room for tiny silent frames.
	MaxFramesPerPacket = 64
	// MaxPacketSamples bounds the samples of one G.711 packet per channel:
	// two seconds at 8 kHz; cameras send 20 to 128 ms.
	MaxPacketSamples = 16000
)

// Sentinel errors. Every error Push returns wraps one of them; none is
// fatal to the stream.
var (
	// ErrPacketLoss reports missing, late or reordered packets; a frame
	// damaged by the loss is dropped and what follows keeps its own time.
	ErrPacketLoss = errors.New("audio: packet loss")
	// ErrMalformed reports a packet or configuration that breaks its RFC
	// or codec syntax.
	ErrMalformed = errors.New("audio: malformed")
	// ErrTooLarge reports a frame over MaxFrameSize or a packet over
	// MaxFramesPerPacket or MaxPacketSamples.
	ErrTooLarge = errors.New("audio: too large")
	// ErrUnsupported reports a valid stream whose features nvr does not
	// record (AAC interleaving, LATM with several programs, ...).
	ErrUnsupported = errors.New("audio: unsupported")
)

// Frame is one unit of audio: an AAC access unit, an Opus packet, or a
// FLAC frame. Data is only valid during the callback that receives it.
type Frame struct {
	PTS      int64 // RTP clock units, extended to 64 bits, continuous for the session
	Duration int64 // the frame's own length in RTP clock units
	Data     []byte
}

// Stats counts what a depacketizer has seen since it was made.
type Stats struct {
	Packets  uint64 // RTP packets pushed
	Lost     uint64 // sequence numbers missing
	Late     uint64 // packets older than one already seen, discarded
	Frames   uint64 // frames emitted
	Dropped  uint64 // frames discarded (broken fragments, oversize)
	Rejected uint64 // malformed packets rejected
	Stripped uint64 // ADTS headers removed from AAC frames
}

// step is what a depacketizer learnt of a packet's place in its stream.
type step struct {
	ts      int64 // the packet's extended timestamp
	gap     bool  // continuity with the previous packet is gone
	late    bool  // the packet is late or a duplicate: discard it
	lossErr error // why gap is set, for the caller to report
}

// stream is what every depacketizer keeps of its RTP stream.
type stream struct {
	seq rtpseq.Tracker
	st  Stats
}

// Stats returns the counters so far.
func (s *stream) Stats() Stats { return s.st }

// begin counts pkt and follows its sequence and timestamp (rtpseq). An
// SSRC change (R17) or a restarted sequence breaks continuity without
// counting loss. When ok is false the packet is to be discarded and
// lossErr says why.
func (s *stream) begin(pkt *rtp.Packet) (st step, ok bool) {
	if pkt == nil {
		s.st.Rejected++
		return step{lossErr: fmt.Errorf("%w: nil packet", ErrMalformed)}, false
	}
	s.st.Packets++
	seq := pkt.SequenceNumber
	if s.seq.SSRCChanged(pkt) {
		s.seq.Forget()
		st.gap = true
		st.lossErr = fmt.Errorf("%w: SSRC changed to %08x (seq %d)", ErrPacketLoss, pkt.SSRC, seq)
	}
	r := s.seq.Advance(pkt)
	st.ts = r.TS
	switch r.Kind {
	case rtpseq.Lost:
		s.st.Lost += uint64(r.Missing)
		st.gap = true
		st.lossErr = fmt.Errorf("%w: %d packets missing before seq %d (ts %d)", ErrPacketLoss, r.Missing, seq, pkt.Timestamp)
	case rtpseq.Late:
		s.st.Late++
		st.late = true
		st.lossErr = fmt.Errorf("%w: late packet seq %d (ts %d), expected %d", ErrPacketLoss, seq, pkt.Timestamp, r.Expected)
	case rtpseq.Jumped:
		st.gap = true
		st.lossErr = fmt.Errorf("%w: sequence jumped from %d to %d", ErrPacketLoss, r.Expected, seq)
	}
	return st, !st.late
}

// Depacketizer is what each codec's depacketizer provides. None is safe
// for concurrent use: the camera's reader owns it.
type Depacketizer interface {
	// Push takes one RTP packet and emits the frames it completes, in
	// order. An error describes a problem with this packet (wrapping one
	// of the sentinels); frames may still have been emitted.
	Push(pkt *rtp.Packet, emit func(*Frame)) error
	// Reset forgets partial frames and sequence state (reconnect).
	Reset()
	// Stats returns the counters so far.
	Stats() Stats
}

// RFC 6381 codec strings of the MP4 forms nvr records audio in; AAC's
// depends on its object type (AACConfig.Codec).
const (
	CodecOpus = "opus"
	CodecFLAC = "flac" // G.711, converted
)
