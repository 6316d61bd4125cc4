package audio

import (
	"fmt"

	"github.com/pion/rtp"
)

// OpusClockRate is the RTP clock of Opus, whatever the audio bandwidth
// (RFC 7587 §4.1).
const OpusClockRate = 48000

// maxOpusDuration is the longest Opus packet, 120 ms (RFC 6716 §3.2.5).
const maxOpusDuration = 120 * OpusClockRate / 1000

// OpusDuration returns the samples at 48 kHz that an Opus packet holds,
// from its TOC byte and frame count (RFC 6716 §3.1, §3.2).
func OpusDuration(p []byte) (int64, error) {
	if len(p) == 0 {
		return 0, fmt.Errorf("%w: empty Opus packet", ErrMalformed)
	}
	toc := p[0]
	cfg := toc >> 3
	var frame int64 // in 1/400 s = 120 samples at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int64{4, 8, 16, 24}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [2]int64{4, 8}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int64{1, 2, 4, 8}[cfg&3]
	}
	var count int64
	switch toc & 3 {
	case 0:
		count = 1
	case 1:
		// Two frames of equal size (§3.2.3).
		if (len(p)-1)%2 != 0 {
			return 0, fmt.Errorf("%w: Opus code 1 packet with odd length %d", ErrMalformed, len(p)-1)
		}
		count = 2
	case 2:
		// Two frames, the first's length coded in one or two bytes
		// (§3.2.4).
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: Opus code 2 packet without frame length", ErrMalformed)
		}
		n, hdr := int(p[1]), 2
		if p[1] >= 252 {
			if len(p) < 3 {
				return 0, fmt.Errorf("%w: Opus code 2 packet with truncated frame length", ErrMalformed)
			}
			n, hdr = int(p[2])*4+int(p[1]), 3
		}
		if n > len(p)-hdr {
			return 0, fmt.Errorf("%w: Opus code 2 frame of %d bytes beyond packet", ErrMalformed, n)
		}
		count = 2
	case 3:
		// A frame count byte (§3.2.5).
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: Opus code 3 packet without frame count", ErrMalformed)
		}
		count = int64(p[1] & 0x3f)
		if count == 0 {
			return 0, fmt.Errorf("%w: Opus code 3 packet with no frames", ErrMalformed)
		}
	}
	d := frame * count * 120
	if d > maxOpusDuration {
		return 0, fmt.Errorf("%w: Opus packet of %d ms", ErrMalformed, d/48)
	}
	return d, nil
}

// Opus depacketizes RFC 7587 Opus: one RTP payload is one Opus packet.
type Opus struct {
	stream
	out Frame
}

// NewOpus makes a depacketizer; clockRate is the rtpmap's, which RFC 7587
// fixes at 48000.
func NewOpus(clockRate int) (*Opus, error) {
	if clockRate != OpusClockRate {
		return nil, fmt.Errorf("%w: Opus clock rate %d, want %d", ErrMalformed, clockRate, OpusClockRate)
	}
	return &Opus{}, nil
}

// Reset forgets sequence continuity.
func (d *Opus) Reset() { d.seq.Forget() }

// Push implements Depacketizer.
func (d *Opus) Push(pkt *rtp.Packet, emit func(*Frame)) error {
	s, ok := d.begin(pkt)
	if !ok {
		return s.lossErr
	}
	if len(pkt.Payload) > MaxFrameSize {
		d.st.Dropped++
		return fmt.Errorf("%w: Opus packet of %d bytes (seq %d)", ErrTooLarge, len(pkt.Payload), pkt.SequenceNumber)
	}
	dur, err := OpusDuration(pkt.Payload)
	if err != nil {
		d.st.Rejected++
		return fmt.Errorf("%w (seq %d)", err, pkt.SequenceNumber)
	}
	d.st.Frames++
	d.out = Frame{PTS: s.ts, Duration: dur, Data: pkt.Payload}
	emit(&d.out)
	return s.lossErr
}
