package h264

import (
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
	"github.com/pion/rtp"
)

// BenchmarkDepacketize measures RTP packet → access unit on the embedded
// clips, packetized at a 1400-byte MTU and looped with continuous sequence
// numbers and timestamps. Target: >= 1,000,000 packets/s on one core and
// <= 1 allocation per packet in steady state.
func BenchmarkDepacketize(b *testing.B) {
	for _, name := range testcam.ClipNames {
		b.Run(name, func(b *testing.B) {
			clip, err := testcam.LoadClip(name)
			if err != nil {
				b.Fatal(err)
			}
			pk := newPacketizer(0)
			var pkts []*rtp.Packet
			for _, f := range clip.Frames {
				pkts = append(pkts, pk.packetize(f.NALUs, uint32(f.PTS+clip.Duration))...)
			}
			d := NewDepacketizer(nil, nil)
			var aus int
			emit := func(*AccessUnit) { aus++ }
			nalrtptest.BenchPush(b, pkts, clip.Duration, func(p *rtp.Packet) error { return d.Push(p, emit) })
			if b.N >= len(pkts) && aus == 0 {
				b.Fatal("no access units")
			}
		})
	}
}
