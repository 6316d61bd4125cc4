// Package rtpseq follows one RTP stream's continuity: its SSRC, its
// sequence numbers (loss, late packets, restarts; RFC 3550 Appendix A.1) and
// its timestamps, extended past the 2^32 wrap. It is the one home of these
// rules for the video and the audio depacketizers; what a gap means for the
// media (drop a picture, leave silence) is theirs.
package rtpseq

import "github.com/pion/rtp"

// Sequence number windows, as in RFC 3550 Appendix A.1.
const (
	// MaxDropout is the largest forward jump of the sequence number still
	// counted as lost packets; a larger jump is a restarted sequence, not
	// 60,000 lost packets.
	MaxDropout = 3000
	// MaxMisorder is how far back a packet may be and still count as late
	// (reordered or duplicated) rather than as a restarted sequence.
	MaxMisorder = 100
)

// Kind says how a packet follows the one before.
type Kind int

const (
	InOrder Kind = iota // the next packet (or the first)
	Lost                // Missing packets are missing before it (R16: 65535→0 is a step of one)
	Late                // late or a duplicate: its slot was counted lost; discard it
	Jumped              // the sequence restarted: continuity is gone, no loss counted
)

// Step is what Advance learnt from a packet.
type Step struct {
	Kind     Kind
	Missing  uint16 // with Lost
	Expected uint16 // the sequence number that was due
	// TS is the packet's timestamp extended to 64 bits (not advanced by a
	// Late packet). It is extended per packet, so even hours without output
	// keep each step within ±2^31 (R14).
	TS int64
}

// Tracker follows one stream. The zero value is ready.
type Tracker struct {
	haveSeq  bool
	nextSeq  uint16
	haveSSRC bool
	ssrc     uint32
	haveTS   bool
	lastTS   uint32
	extTS    int64
}

// SSRCChanged reports whether pkt comes from another SSRC than the packets
// before it (R17: some cameras start a new one every GOP). The caller
// decides what that ends and calls Forget; Advance then follows the new one.
func (t *Tracker) SSRCChanged(pkt *rtp.Packet) bool {
	return t.haveSSRC && pkt.SSRC != t.ssrc
}

// Advance accounts for pkt.
func (t *Tracker) Advance(pkt *rtp.Packet) Step {
	t.haveSSRC, t.ssrc = true, pkt.SSRC
	seq := pkt.SequenceNumber
	st := Step{Expected: t.nextSeq}
	if t.haveSeq {
		// uint16 arithmetic makes 65535→0 a step of one.
		switch delta := seq - t.nextSeq; {
		case delta == 0:
		case delta < MaxDropout:
			st.Kind, st.Missing = Lost, delta
		case delta >= 1<<16-MaxMisorder:
			st.Kind, st.TS = Late, t.extTS
			return st
		default:
			st.Kind = Jumped
		}
	}
	t.haveSeq, t.nextSeq = true, seq+1
	if t.haveTS {
		t.extTS += int64(int32(pkt.Timestamp - t.lastTS))
	} else {
		t.extTS = int64(pkt.Timestamp)
		t.haveTS = true
	}
	t.lastTS = pkt.Timestamp
	st.TS = t.extTS
	return st
}

// Forget drops sequence continuity and the SSRC (a reconnect, a new SSRC)
// but keeps the timestamp extension.
func (t *Tracker) Forget() {
	t.haveSeq = false
	t.haveSSRC = false
}
