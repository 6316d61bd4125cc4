package h265

import (
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/pion/rtp"
)

// BenchmarkDepacketize measures RTP packet → access unit on the H.265
// clip exactly as recorder/h264's BenchmarkDepacketize does on the H.264
// clips (1400-byte MTU, looped with continuous sequence numbers and
// timestamps), so MB/s (payload bytes) compares the cost per GB of the two
// codecs. Target: no slower per byte than H.264 and <= 1 allocation per
// packet in steady state.
func BenchmarkDepacketize(b *testing.B) {
	for _, name := range testcam.H265ClipNames {
		b.Run(name, func(b *testing.B) {
			clip, err := testcam.LoadClip(name)
			if err != nil {
				b.Fatal(err)
			}
			pk := newPacketizer(0)
			var pkts []*rtp.Packet
			var bytes int64
			for _, f := range clip.Frames {
				for _, p := range pk.packetize(f.NALUs, uint32(f.PTS+clip.Duration)) {
					pkts = append(pkts, p)
					bytes += int64(len(p.Payload))
				}
			}
			d := NewDepacketizer(nil, nil, nil)
			var aus int
			emit := func(*AccessUnit) { aus++ }
			b.SetBytes(bytes / int64(len(pkts)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := pkts[i%len(pkts)]
				loop := uint32(i / len(pkts))
				pkt := rtp.Packet{Header: p.Header, Payload: p.Payload}
				pkt.SequenceNumber = uint16(i)
				pkt.Timestamp += loop * uint32(clip.Duration)
				if err := d.Push(&pkt, emit); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			if b.N >= len(pkts) && aus == 0 {
				b.Fatal("no access units")
			}
		})
	}
}
