package h265

import (
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
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
			for _, f := range clip.Frames {
				pkts = append(pkts, pk.packetize(f.NALUs, uint32(f.PTS+clip.Duration))...)
			}
			d := NewDepacketizer(nil, nil, nil)
			var aus int
			emit := func(*AccessUnit) { aus++ }
			nalrtptest.BenchPush(b, pkts, clip.Duration, func(p *rtp.Packet) error { return d.Push(p, emit) })
			if b.N >= len(pkts) && aus == 0 {
				b.Fatal("no access units")
			}
		})
	}
}
