package audio

import (
	"fmt"

	"github.com/pion/rtp"
)

// G.711 expansion tables (ITU-T G.711 §2 and §3, the decoder's output
// values scaled to 16 bits as every implementation does): index is the
// byte on the wire.
var (
	ulawTable = makeTable(ulawDecode)
	alawTable = makeTable(alawDecode)
)

func makeTable(f func(byte) int16) (t [256]int16) {
	for i := range t {
		t[i] = f(byte(i))
	}
	return t
}

// ulawDecode expands one µ-law byte. The byte is sent inverted; 3 bits of
// segment and 4 of step give a magnitude with a bias of 0x84 (132).
func ulawDecode(b byte) int16 {
	u := ^b
	exp := (u >> 4) & 7
	mag := (int(u&0x0f)<<3 + 0x84) << exp
	mag -= 0x84
	if u&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// alawDecode expands one A-law byte. Even bits are inverted on the wire
// (0x55); the sign bit set means positive.
func alawDecode(b byte) int16 {
	a := b ^ 0x55
	exp := (a >> 4) & 7
	mag := int(a&0x0f)<<4 + 8
	if exp > 0 {
		mag = (mag + 0x100) << (exp - 1)
	}
	if a&0x80 != 0 {
		return int16(mag)
	}
	return int16(-mag)
}

// G711 depacketizes PCMU or PCMA (RFC 3551 §4.5.14): every byte is one
// sample, channels interleaved, any number of samples per packet. Frames
// carry the bytes as sent; Decode expands them.
type G711 struct {
	table    *[256]int16
	channels int
	stream
	out Frame
}

// NewG711 makes a depacketizer for codec "PCMU" or "PCMA" with the
// channel count of the rtpmap (1 when absent).
func NewG711(codec string, channels int) (*G711, error) {
	d := &G711{channels: channels}
	switch codec {
	case "PCMU":
		d.table = &ulawTable
	case "PCMA":
		d.table = &alawTable
	default:
		return nil, fmt.Errorf("%w: G.711 codec %q", ErrUnsupported, truncate(codec))
	}
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("%w: G.711 with %d channels", ErrUnsupported, channels)
	}
	return d, nil
}

// Channels is the number of interleaved channels.
func (d *G711) Channels() int { return d.channels }

// Decode appends the 16-bit samples of G.711 bytes b to pcm.
func (d *G711) Decode(pcm []int16, b []byte) []int16 {
	for _, v := range b {
		pcm = append(pcm, d.table[v])
	}
	return pcm
}

// Reset forgets sequence continuity.
func (d *G711) Reset() { d.seq.Forget() }

// Push implements Depacketizer. Each packet is one frame whose PTS is its
// RTP timestamp: a lost packet leaves its slot empty for the consumer to
// fill with silence.
func (d *G711) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	s, ok := d.begin(pkt)
	if !ok {
		return s.lossErr
	}
	n := len(pkt.Payload)
	switch {
	case n == 0 || n%d.channels != 0:
		d.st.Rejected++
		return fmt.Errorf("%w: G.711 payload of %d bytes for %d channels (seq %d)", ErrMalformed, n, d.channels, pkt.SequenceNumber)
	case n/d.channels > MaxPacketSamples:
		d.st.Dropped++
		return fmt.Errorf("%w: G.711 packet of %d samples (seq %d)", ErrTooLarge, n/d.channels, pkt.SequenceNumber)
	}
	d.st.Frames++
	d.out = Frame{PTS: s.ts, Duration: int64(n / d.channels), Data: pkt.Payload}
	emit(&d.out)
	return s.lossErr
}
