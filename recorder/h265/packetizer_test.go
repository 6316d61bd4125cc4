package h265

import "github.com/pion/rtp"

// testMTU is the RTP payload budget of the test packetizer: a 1500-byte
// Ethernet MTU minus IP, UDP and RTP headers, rounded down.
const testMTU = 1400

// packetizer is a test-only RFC 7798 packetizer without DONL: small
// neighbours go into an AP, a unit that fits goes alone, a large one is
// split into FUs. It is independent of the code under test.
type packetizer struct {
	seq  uint16
	ssrc uint32
	mtu  int
}

func newPacketizer(seq uint16) *packetizer {
	return &packetizer{seq: seq, ssrc: 0x1234abcd, mtu: testMTU}
}

func (p *packetizer) packet(payload []byte, ts uint32) *rtp.Packet {
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: ts, SSRC: p.ssrc},
		Payload: payload,
	}
	p.seq++
	return pkt
}

// packetize turns one access unit into packets, the last with the marker.
func (p *packetizer) packetize(nalus [][]byte, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	for i := 0; i < len(nalus); {
		// Gather an AP run of at least two units (RFC 7798 §4.4.2): the
		// payload header takes the lowest TID and F/LayerId of the units;
		// all ours are layer 0.
		size, j := 2, i
		tid := byte(7)
		for j < len(nalus) && size+2+len(nalus[j]) <= p.mtu {
			size += 2 + len(nalus[j])
			tid = min(tid, nalus[j][1]&7)
			j++
		}
		if j-i >= 2 {
			b := []byte{48 << 1, tid}
			for _, n := range nalus[i:j] {
				b = append(b, byte(len(n)>>8), byte(len(n)))
				b = append(b, n...)
			}
			out = append(out, p.packet(b, ts))
			i = j
			continue
		}
		n := nalus[i]
		if len(n) <= p.mtu {
			out = append(out, p.packet(append([]byte(nil), n...), ts))
			i++
			continue
		}
		// FU (RFC 7798 §4.4.3): payload header of type 49 with the unit's
		// F, LayerId and TID, then S/E and the unit's type.
		typ := n[0] >> 1 & 0x3f
		data := n[2:]
		first := true
		for len(data) > 0 {
			k := min(len(data), p.mtu-3)
			hdr := typ
			if first {
				hdr |= 0x80 // S
			}
			if k == len(data) {
				hdr |= 0x40 // E
			}
			b := append([]byte{n[0]&0x81 | 49<<1, n[1], hdr}, data[:k]...)
			out = append(out, p.packet(b, ts))
			data = data[k:]
			first = false
		}
		i++
	}
	if len(out) > 0 {
		out[len(out)-1].Marker = true
	}
	return out
}
