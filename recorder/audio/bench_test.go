package audio

import (
	"math"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"

	"github.com/pion/rtp"
)

// benchSecond is one second of a track's packets, as a camera sends it.
func benchSecond(codec string) []*rtp.Packet {
	var pkts []*rtp.Packet
	switch codec {
	case "PCMU": // 20 ms packets of a loud 440 Hz tone, µ-law coded by mediacommon
		lin := make([]byte, 0, 16000)
		for i := 0; i < 8000; i++ {
			v := int16(26000 * math.Sin(2*math.Pi*440*float64(i)/8000))
			lin = append(lin, byte(uint16(v)>>8), byte(v))
		}
		ulaw, err := g711.Mulaw(lin).Marshal()
		if err != nil {
			panic(err)
		}
		for i := 0; i < 50; i++ {
			pkts = append(pkts, &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, Payload: ulaw[i*160 : (i+1)*160]})
		}
	case "MPEG4-GENERIC": // 16 kHz AAC, one 200-byte AU per packet
		for i, au := range aus(16, 200) {
			pkts = append(pkts, genericPacket(uint16(i), uint32(i*1024), true, []int{len(au)}, au))
		}
	}
	return pkts
}

// BenchmarkTrack measures the CPU one second of audio costs: ns/op is
// nanoseconds of one core per second of recorded audio.
func BenchmarkTrack(b *testing.B) {
	for _, tc := range []struct {
		codec string
		clock int
		fmtp  map[string]string
	}{
		{"PCMU", 8000, nil},
		{"MPEG4-GENERIC", 16000, map[string]string{"config": "1408", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3"}},
	} {
		b.Run(tc.codec, func(b *testing.B) {
			pkts := benchSecond(tc.codec)
			tr, err := NewTrack(tc.codec, tc.clock, 1, tc.fmtp)
			if err != nil {
				b.Fatal(err)
			}
			var bytes int
			emit := func(f *Frame) { bytes += len(f.Data) }
			b.ReportAllocs()
			defer func() { b.ReportMetric(float64(bytes)/float64(b.N), "stored-B/s") }()
			for i := 0; b.Loop(); i++ {
				for _, p := range pkts {
					// Each round is the next second of the same stream.
					p.SequenceNumber += uint16(len(pkts))
					p.Timestamp += uint32(tc.clock)
					_ = tr.Push(p, emit)
				}
			}
		})
	}
}
