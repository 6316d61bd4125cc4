package h264

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/pion/rtp"
)

// TestClipsIndependentEncoder packetizes the clips with gortsplib's RTP/H264
// encoder (an implementation independent of ours and of the test
// packetizer), sends every packet through its wire form, and checks the
// access units that come back.
func TestClipsIndependentEncoder(t *testing.T) {
	for _, name := range testcam.ClipNames {
		t.Run(name, func(t *testing.T) {
			clip, err := testcam.LoadClip(name)
			if err != nil {
				t.Fatal(err)
			}
			ssrc, seq := uint32(0x5eed), uint16(65000)
			enc := &rtph264.Encoder{PayloadType: 96, SSRC: &ssrc, InitialSequenceNumber: &seq,
				PayloadMaxSize: testMTU, PacketizationMode: 1}
			if err := enc.Init(); err != nil {
				t.Fatal(err)
			}
			d := NewDepacketizer(clip.SPS, clip.PPS)
			var got []collected
			emit := collector(&got)
			for _, f := range clip.Frames {
				pkts, err := enc.Encode(f.NALUs)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pkts {
					p.Timestamp = uint32(90000 + f.PTS)
					wire, err := p.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					var rx rtp.Packet
					if err := rx.Unmarshal(wire); err != nil {
						t.Fatal(err)
					}
					if err := d.Push(&rx, emit); err != nil {
						t.Fatalf("seq %d: %v", rx.SequenceNumber, err)
					}
				}
			}
			if len(got) != len(clip.Frames) {
				t.Fatalf("%d access units, want %d", len(got), len(clip.Frames))
			}
			for i, f := range clip.Frames {
				if got[i].PTS != 90000+f.PTS || got[i].Keyframe != f.Keyframe {
					t.Errorf("AU %d: PTS %d key %v, want %d %v", i, got[i].PTS, got[i].Keyframe, 90000+f.PTS, f.Keyframe)
				}
				if !bytes.Equal(bytes.Join(got[i].NALUs, []byte{0, 0, 0, 1}), bytes.Join(f.NALUs, []byte{0, 0, 0, 1})) {
					t.Errorf("AU %d: NAL units differ", i)
				}
			}
		})
	}
}
