package h265

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

// Fuzz input format: one byte of options (bit 0: SDP params), then records
// of flags (bit 0 marker, bit 1 second SSRC), sequence number (2 bytes),
// timestamp (4), payload length (2) and payload (as recorder/h264's).
const fuzzRecordHeader = 9

func encodeFuzz(c depCase) []byte {
	var b []byte
	if c.sdp {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range c.steps {
		var flags byte
		if s.m {
			flags |= 1
		}
		if s.ssrc > 1 {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.BigEndian.AppendUint16(b, s.seq)
		b = binary.BigEndian.AppendUint32(b, s.ts)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.p)))
		b = append(b, s.p...)
	}
	return b
}

func FuzzDepacketizer(f *testing.F) {
	for _, c := range depCases() {
		f.Add(encodeFuzz(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d := NewDepacketizer(nil, nil, nil)
		if data[0]&1 != 0 {
			d = NewDepacketizer(vpsA, spsA, ppsA)
		}
		data = data[1:]
		var emitted uint64
		var prevDTS int64
		emit := func(au *AccessUnit) {
			size := 0
			for _, n := range au.NALUs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit emitted")
				}
				size += len(n)
			}
			switch {
			case size > MaxAccessUnitSize:
				t.Fatalf("AU of %d bytes", size)
			case len(au.NALUs) > MaxNALUsPerAccessUnit:
				t.Fatalf("AU of %d NAL units", len(au.NALUs))
			case au.DTS > au.PTS:
				t.Fatalf("DTS %d > PTS %d", au.DTS, au.PTS)
			case emitted == 0 && !au.Keyframe:
				t.Fatal("first AU is not a keyframe")
			case au.Keyframe && (au.VPS == nil || au.SPS == nil || au.PPS == nil || au.Params == nil):
				t.Fatal("keyframe without parameter sets")
			case emitted > 0 && !au.Keyframe && au.DTS <= prevDTS:
				t.Fatalf("DTS %d not after %d", au.DTS, prevDTS)
			}
			prevDTS = au.DTS
			emitted++
		}
		for len(data) >= fuzzRecordHeader {
			flags := data[0]
			n := int(binary.BigEndian.Uint16(data[7:9]))
			pkt := &rtp.Packet{Header: rtp.Header{
				Marker:         flags&1 != 0,
				SequenceNumber: binary.BigEndian.Uint16(data[1:3]),
				Timestamp:      binary.BigEndian.Uint32(data[3:7]),
				SSRC:           1 + uint32(flags>>1&1),
			}}
			data = data[fuzzRecordHeader:]
			pkt.Payload = data[:min(n, len(data))]
			data = data[len(pkt.Payload):]
			_ = d.Push(pkt, emit)
		}
		d.Flush(emit)
		if st := d.Stats(); st.AccessUnits != emitted {
			t.Fatalf("stats count %d AUs, %d emitted", st.AccessUnits, emitted)
		}
	})
}

// FuzzParseSprop feeds the three sprop values, separated by ';' in one
// string, to the parameter parser.
func FuzzParseSprop(f *testing.F) {
	for _, c := range spropCases() {
		f.Add(c.values[0] + ";" + c.values[1] + ";" + c.values[2])
	}
	f.Fuzz(func(t *testing.T, value string) {
		var v [3]string
		copy(v[:], strings.SplitN(value, ";", 3))
		vps, sps, pps := ParseSprop(v[:]...)
		if vps != nil && checkVPS(vps) != nil {
			t.Fatalf("returned a VPS that is not one: %x", vps)
		}
		if sps != nil {
			if _, err := parseSPS(sps); err != nil {
				t.Fatalf("returned an SPS that does not parse: %v", err)
			}
		}
		if pps != nil && checkPPS(pps) != nil {
			t.Fatalf("returned a PPS that is not one: %x", pps)
		}
		if vps != nil && sps != nil && pps != nil {
			p, err := ParseParams(vps, sps, pps)
			if err != nil {
				t.Fatalf("ParseParams refused what ParseSprop returned: %v", err)
			}
			if p.Width <= 0 || p.Height <= 0 || p.Width > 16384 || p.Height > 16384 {
				t.Fatalf("size %dx%d", p.Width, p.Height)
			}
		}
	})
}
