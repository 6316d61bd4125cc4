package audio

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
)

// Fuzz input format: one byte of options, then records of flags (bit 0
// marker, bit 1 second SSRC), sequence number (2 bytes), timestamp (4),
// payload length (2) and payload.
func encodeFuzz(opts byte, pkts []*rtp.Packet) []byte {
	b := []byte{opts}
	for _, p := range pkts {
		var flags byte
		if p.Marker {
			flags |= 1
		}
		if p.SSRC == 2 {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.BigEndian.AppendUint16(b, p.SequenceNumber)
		b = binary.BigEndian.AppendUint32(b, p.Timestamp)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Payload)))
		b = append(b, p.Payload...)
	}
	return b
}

func decodeFuzz(data []byte) []*rtp.Packet {
	var out []*rtp.Packet
	for len(data) >= 9 {
		flags := data[0]
		seq := binary.BigEndian.Uint16(data[1:])
		ts := binary.BigEndian.Uint32(data[3:])
		n := int(binary.BigEndian.Uint16(data[7:]))
		data = data[9:]
		if n > len(data) {
			n = len(data)
		}
		ssrc := uint32(1)
		if flags&2 != 0 {
			ssrc = 2
		}
		out = append(out, &rtp.Packet{Header: rtp.Header{Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: data[:n]})
		data = data[n:]
	}
	return out
}

// checkFrames pushes every packet and checks what any depacketizer
// promises: no panic, frames non-empty and bounded, a positive duration.
func checkFrames(t *testing.T, d Depacketizer, pkts []*rtp.Packet) {
	for _, p := range pkts {
		_ = d.Push(p, func(f *Frame) {
			if len(f.Data) == 0 || len(f.Data) > MaxFrameSize || f.Duration <= 0 {
				t.Fatalf("frame of %d bytes, duration %d", len(f.Data), f.Duration)
			}
		})
	}
}

func FuzzMPEG4Generic(f *testing.F) {
	for _, sizes := range [][]int{{200, 371}, {900}, {10, 20, 30, 40}} {
		in := aus(4, sizes...)
		var pkts []*rtp.Packet
		for i, au := range in {
			pkts = append(pkts, genericPacket(uint16(i), uint32(i*1024), true, []int{len(au)}, au))
		}
		f.Add(encodeFuzz(0, pkts))
	}
	f.Add(encodeFuzz(1, []*rtp.Packet{
		genericPacket(1, 0, false, []int{500}, make([]byte, 200)),
		genericPacket(2, 0, true, []int{500}, make([]byte, 300)),
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		// Option bits pick AU-header layouts real cameras use.
		fmtp := map[string]string{"sizelength": "13", "indexlength": "3", "indexdeltalength": "3"}
		switch data[0] % 4 {
		case 1:
			fmtp = map[string]string{"sizelength": "6", "indexlength": "2", "indexdeltalength": "2"} // AAC-lbr
		case 2:
			fmtp["ctsdeltalength"], fmtp["dtsdeltalength"], fmtp["randomaccessindication"] = "16", "16", "1"
		case 3:
			fmtp["auxiliarydatasizelength"], fmtp["streamstateindication"] = "8", "4"
		}
		p, err := ParseGenericParams(fmtp)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := ParseAACConfig(ascLCStereo44)
		d, err := NewMPEG4Generic(p, cfg, 44100)
		if err != nil {
			t.Fatal(err)
		}
		checkFrames(t, d, decodeFuzz(data[1:]))
	})
}

func FuzzLATM(f *testing.F) {
	cfg := latmConfig(f)
	raw, err := cfg.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeFuzz(0, []*rtp.Packet{{Header: rtp.Header{Marker: true}, Payload: []byte{3, 1, 2, 3}}}))
	f.Add(encodeFuzz(1, []*rtp.Packet{{Header: rtp.Header{Marker: true}, Payload: append([]byte{0}, raw...)}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fmtp := map[string]string{"cpresent": "0", "config": hexString(raw)}
		if data[0]&1 != 0 {
			fmtp = map[string]string{"cpresent": "1"}
		}
		d, err := NewLATM(44100, fmtp)
		if err != nil {
			t.Fatal(err)
		}
		checkFrames(t, d, decodeFuzz(data[1:]))
	})
}

func FuzzAACConfig(f *testing.F) {
	for _, s := range [][]byte{ascLCStereo44, {0x15, 0x88}, {0x2b, 0x11, 0x88, 0x00}, {0xf8, 0, 0, 0}} {
		f.Add(s, false)
	}
	f.Add([]byte{0x40, 0x00, 0x24, 0x10, 0x3f, 0xc0}, true)
	f.Fuzz(func(t *testing.T, b []byte, mux bool) {
		var c AACConfig
		var err error
		if mux {
			r := bitReader{b: b}
			var mc muxConfig
			mc, err = readMuxConfig(&r)
			c = mc.aac
		} else {
			c, err = ParseAACConfig(b)
		}
		if err != nil {
			return
		}
		if c.SampleRate <= 0 || c.Channels <= 0 || (c.FrameLength != 1024 && c.FrameLength != 960) {
			t.Fatalf("accepted %+v", c)
		}
		// What we hand to an esds parses back to the same config.
		again, err := ParseAACConfig(c.Raw)
		if err != nil || again.SampleRate != c.SampleRate || again.Channels != c.Channels || again.ObjectType != c.ObjectType {
			t.Fatalf("Raw %x reparses as %+v, %v; was %+v", c.Raw, again, err, c)
		}
	})
}

func FuzzOpus(f *testing.F) {
	f.Add(encodeFuzz(0, []*rtp.Packet{{Payload: []byte{0xfc, 1}}, {Header: rtp.Header{SequenceNumber: 1, Timestamp: 960}, Payload: []byte{0xff, 0x03, 0}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d, _ := NewOpus(OpusClockRate)
		for _, p := range decodeFuzz(data[1:]) {
			_ = d.Push(p, func(f *Frame) {
				if f.Duration <= 0 || f.Duration > maxOpusDuration {
					t.Fatalf("duration %d", f.Duration)
				}
			})
		}
	})
}

// FuzzG711FLAC runs the whole G.711 path: depacketize, decode, encode
// FLAC; frames always come whole and in time order.
func FuzzG711FLAC(f *testing.F) {
	f.Add(encodeFuzz(0, []*rtp.Packet{
		{Payload: make([]byte, 160)}, {Header: rtp.Header{SequenceNumber: 2, Timestamp: 320}, Payload: make([]byte, 80)},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		codec, ch := "PCMU", 1
		if data[0]&1 != 0 {
			codec = "PCMA"
		}
		if data[0]&2 != 0 {
			ch = 2
		}
		d, _ := NewG711(codec, ch)
		e, _ := NewFLACEncoder(8000, ch)
		var pcm []int16
		last := int64(-1 << 62)
		emit := func(f *Frame) {
			if f.Duration != int64(e.Info().BlockSize) || len(f.Data) == 0 {
				t.Fatalf("FLAC frame of %d samples, %d bytes", f.Duration, len(f.Data))
			}
			if f.PTS < last {
				// Only a restart (a jump over a second) may go back.
				if last-f.PTS < int64(maxSilenceSeconds*8000)/2 {
					t.Fatalf("frame at %d after %d", f.PTS, last)
				}
			}
			last = f.PTS
		}
		for _, p := range decodeFuzz(data[1:]) {
			_ = d.Push(p, func(f *Frame) {
				pcm = d.Decode(pcm[:0], f.Data)
				if err := e.Push(f.PTS, pcm, emit); err != nil {
					t.Fatal(err)
				}
			})
		}
		if err := e.Flush(emit); err != nil {
			t.Fatal(err)
		}
	})
}
