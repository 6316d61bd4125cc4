package testcam

import (
	"fmt"
	"sync"

	"github.com/pion/rtp"
)

// NAL unit types used by the packetizer (RFC 6184 §5.2, H.264 Table 7-1).
const (
	naluTypeSPS   = 7
	naluTypePPS   = 8
	naluTypeSTAPA = 24
	naluTypeFUA   = 28
)

// RTPPacketTemplate is one RTP packet of a clip, prepared once and reused by
// every session and every loop: only the sequence number, the timestamp
// offset and the SSRC differ, and those live in the RTP header that the
// sender writes in front of Payload.
type RTPPacketTemplate struct {
	// Payload is the RTP payload: a single NAL unit, a STAP-A or an FU-A
	// (RFC 6184 §5.6, §5.7.1, §5.8). Shared and read-only.
	Payload []byte
	// Marker is set on the last packet of an access unit (RFC 6184 §5.1).
	Marker bool
}

// Packetize turns a clip into RTP payloads for packetization-mode 1
// (RFC 6184 §6.3). The result has one entry per clip frame, in decode order,
// each holding that access unit's packets in sending order:
//   - an SPS directly followed by a PPS goes into one STAP-A,
//   - a NAL unit longer than maxPayload is split into FU-A fragments,
//   - every other NAL unit is sent as a single NAL unit packet.
//
// NAL units of types 24–31 (unspecified in H.264, used by RFC 6184 for
// aggregation and fragmentation) are not valid input. The RTP timestamp
// of frame i is clip.Frames[i].PTS plus the sender's offset. maxPayload below 16 is raised to 16. The result does not share
// memory with the clip for FU-A and STAP-A payloads; single NAL unit
// payloads alias the clip's (read-only) bytes.
func Packetize(c *Clip, maxPayload int) [][]RTPPacketTemplate {
	if maxPayload < minMaxPacketSize {
		maxPayload = minMaxPacketSize
	}
	if c.H265 {
		return packetizeH265(c, maxPayload)
	}
	out := make([][]RTPPacketTemplate, len(c.Frames))
	for i, f := range c.Frames {
		var pkts []RTPPacketTemplate
		nalus := f.NALUs
		for j := 0; j < len(nalus); j++ {
			n := nalus[j]
			// SPS+PPS as one STAP-A, as most cameras send them
			// (RFC 6184 §5.7.1: two 16-bit sizes plus one header byte).
			if n[0]&0x1f == naluTypeSPS && j+1 < len(nalus) && nalus[j+1][0]&0x1f == naluTypePPS &&
				1+2+len(n)+2+len(nalus[j+1]) <= maxPayload {
				pps := nalus[j+1]
				// F bit: OR of the aggregated units; NRI: their maximum (§5.7).
				nri := max(n[0]&0x60, pps[0]&0x60)
				p := make([]byte, 0, 1+2+len(n)+2+len(pps))
				p = append(p, (n[0]|pps[0])&0x80|nri|naluTypeSTAPA)
				p = append(p, byte(len(n)>>8), byte(len(n)))
				p = append(p, n...)
				p = append(p, byte(len(pps)>>8), byte(len(pps)))
				p = append(p, pps...)
				pkts = append(pkts, RTPPacketTemplate{Payload: p})
				j++
				continue
			}
			if len(n) <= maxPayload {
				pkts = append(pkts, RTPPacketTemplate{Payload: n})
				continue
			}
			// FU-A (RFC 6184 §5.8): the NAL header is replaced by an FU
			// indicator (F, NRI, type 28) and an FU header (S, E, type).
			indicator := n[0]&0xe0 | naluTypeFUA
			typ := n[0] & 0x1f
			body := n[1:]
			chunk := maxPayload - 2
			for off := 0; off < len(body); off += chunk {
				end := min(off+chunk, len(body))
				hdr := typ
				if off == 0 {
					hdr |= 0x80
				}
				if end == len(body) {
					hdr |= 0x40
				}
				p := make([]byte, 0, 2+end-off)
				p = append(p, indicator, hdr)
				p = append(p, body[off:end]...)
				pkts = append(pkts, RTPPacketTemplate{Payload: p})
			}
		}
		if len(pkts) > 0 {
			pkts[len(pkts)-1].Marker = true
		}
		out[i] = pkts
	}
	return out
}

// packetizeH265 is Packetize for an H.265 clip (RFC 7798): a NAL unit that
// fits is a single NAL unit packet (§4.4.1), a longer one is split into
// fragmentation units (§4.4.3): a payload header of type 49 carrying the
// NAL unit's F bit, layer id and TID, then an FU header (S, E, type). No
// aggregation packets: the depacketizer's AP path is tested with
// mediacommon's packetizer.
func packetizeH265(c *Clip, maxPayload int) [][]RTPPacketTemplate {
	const naluTypeFU = 49
	out := make([][]RTPPacketTemplate, len(c.Frames))
	for i, f := range c.Frames {
		var pkts []RTPPacketTemplate
		for _, n := range f.NALUs {
			if len(n) <= maxPayload || len(n) < 3 {
				pkts = append(pkts, RTPPacketTemplate{Payload: n})
				continue
			}
			hdr0, hdr1 := n[0]&0x81|naluTypeFU<<1, n[1]
			typ := n[0] >> 1 & 0x3f
			body := n[2:]
			chunk := maxPayload - 3
			for off := 0; off < len(body); off += chunk {
				end := min(off+chunk, len(body))
				fu := typ
				if off == 0 {
					fu |= 0x80
				}
				if end == len(body) {
					fu |= 0x40
				}
				p := make([]byte, 0, 3+end-off)
				p = append(p, hdr0, hdr1, fu)
				p = append(p, body[off:end]...)
				pkts = append(pkts, RTPPacketTemplate{Payload: p})
			}
		}
		if len(pkts) > 0 {
			pkts[len(pkts)-1].Marker = true
		}
		out[i] = pkts
	}
	return out
}

// PacketizeRTP returns one pass of the clip as ready RTP packets (payload
// type 96), for tests of depacketizers: sequence numbers start at seq and
// timestamps are ts plus each frame's PTS. Payloads are shared and
// read-only.
func PacketizeRTP(c *Clip, maxPayload int, ssrc uint32, seq uint16, ts uint32) []*rtp.Packet {
	var out []*rtp.Packet
	for i, frame := range Packetize(c, maxPayload) {
		for _, t := range frame {
			out = append(out, &rtp.Packet{
				Header: rtp.Header{
					Version:        2,
					Marker:         t.Marker,
					PayloadType:    payloadType,
					SequenceNumber: seq,
					Timestamp:      ts + uint32(c.Frames[i].PTS),
					SSRC:           ssrc,
				},
				Payload: t.Payload,
			})
			seq++
		}
	}
	return out
}

// payloadType is the dynamic RTP payload type announced in the SDP.
const payloadType = 96

// clipCache holds each loaded clip and its packetizations, so 100+
// cameras in one process share one copy (the brief's load test).
var clipCache struct {
	mu      sync.Mutex
	clips   map[string]*Clip
	packets map[packetKey][][]RTPPacketTemplate
}

type packetKey struct {
	clip       string
	maxPayload int
}

// loadPacketized returns the shared clip and its shared packetization.
func loadPacketized(name string, maxPayload int) (*Clip, [][]RTPPacketTemplate, error) {
	clipCache.mu.Lock()
	defer clipCache.mu.Unlock()
	if clipCache.clips == nil {
		clipCache.clips = make(map[string]*Clip)
		clipCache.packets = make(map[packetKey][][]RTPPacketTemplate)
	}
	c := clipCache.clips[name]
	if c == nil {
		var err error
		if c, err = LoadClip(name); err != nil {
			return nil, nil, fmt.Errorf("load clip: %w", err)
		}
		clipCache.clips[name] = c
	}
	k := packetKey{name, maxPayload}
	p := clipCache.packets[k]
	if p == nil {
		p = Packetize(c, maxPayload)
		clipCache.packets[k] = p
	}
	return c, p, nil
}
