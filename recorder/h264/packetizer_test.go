package h264

import (
	"bytes"

	"github.com/pion/rtp"
)

// testMTU is the RTP payload budget of the test packetizer: a 1500-byte
// Ethernet MTU minus IP, UDP and RTP headers, rounded down.
const testMTU = 1400

// packetizer is a test-only RFC 6184 packetizer (packetization-mode 1):
// small neighbours go into STAP-A, a unit that fits goes alone, a large one
// is split into FU-A. It is independent of the code under test.
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
		Header: rtp.Header{
			Version:        2,
			PayloadType:    96,
			SequenceNumber: p.seq,
			Timestamp:      ts,
			SSRC:           p.ssrc,
		},
		Payload: payload,
	}
	p.seq++
	return pkt
}

// packetize turns one access unit into packets, the last with the marker.
func (p *packetizer) packetize(nalus [][]byte, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	for i := 0; i < len(nalus); {
		// Gather a STAP-A run of at least two units.
		size, j := 1, i
		for j < len(nalus) && size+2+len(nalus[j]) <= p.mtu {
			size += 2 + len(nalus[j])
			j++
		}
		if j-i >= 2 {
			b := []byte{nalus[i][0]&0x60 | naluSTAPA}
			for _, n := range nalus[i:j] {
				b = append(b, byte(len(n)>>8), byte(len(n)))
				b = append(b, n...)
			}
			out = append(out, p.packet(b, ts))
			i = j
			continue
		}
		n := nalus[i]
		i++
		if len(n) <= p.mtu {
			out = append(out, p.packet(bytes.Clone(n), ts))
			continue
		}
		out = append(out, p.fuA(n, ts)...)
	}
	if len(out) > 0 {
		out[len(out)-1].Marker = true
	}
	return out
}

func (p *packetizer) fuA(n []byte, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	ind := n[0]&0xe0 | naluFUA
	typ := n[0] & 0x1f
	body := n[1:]
	for first := true; len(body) > 0 || first; first = false {
		k := min(len(body), p.mtu-2)
		hdr := typ
		if first {
			hdr |= 0x80 // S (RFC 6184 §5.8)
		}
		if k == len(body) {
			hdr |= 0x40 // E
		}
		b := append([]byte{ind, hdr}, body[:k]...)
		body = body[k:]
		out = append(out, p.packet(b, ts))
	}
	return out
}

// collected is a deep copy of an emitted access unit.
type collected struct {
	AccessUnit
}

// collector returns an emit callback that deep-copies every access unit.
func collector(dst *[]collected) func(*AccessUnit) {
	return func(au *AccessUnit) {
		c := collected{*au}
		c.NALUs = nil
		for _, n := range au.NALUs {
			c.NALUs = append(c.NALUs, bytes.Clone(n))
		}
		*dst = append(*dst, c)
	}
}
