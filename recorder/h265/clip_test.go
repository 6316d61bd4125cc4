package h265

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/pion/rtp"
)

// collected is an emitted access unit, copied out of the callback.
type collected struct {
	NALUs    [][]byte
	PTS, DTS int64
	Keyframe bool
	Params   *Params
	Changed  bool
}

func collector(out *[]collected) func(*AccessUnit) {
	return func(au *AccessUnit) {
		c := collected{PTS: au.PTS, DTS: au.DTS, Keyframe: au.Keyframe, Params: au.Params, Changed: au.ParamsChanged}
		for _, n := range au.NALUs {
			c.NALUs = append(c.NALUs, bytes.Clone(n))
		}
		*out = append(*out, c)
	}
}

// checkClip compares what came out with the clip: every frame whole and
// in order, keyframes where libx265 put them, and decode times exactly as
// ffmpeg derived them for the MP4 (shifted by base), so B-frames play.
func checkClip(t *testing.T, clip *testcam.Clip, got []collected, base int64) {
	t.Helper()
	if len(got) != len(clip.Frames) {
		t.Fatalf("%d access units, want %d", len(got), len(clip.Frames))
	}
	for i, f := range clip.Frames {
		g := got[i]
		if g.PTS != base+f.PTS || g.DTS != base+f.DTS || g.Keyframe != f.Keyframe {
			t.Errorf("AU %d: PTS %d DTS %d key %v, want %d %d %v", i, g.PTS, g.DTS, g.Keyframe, base+f.PTS, base+f.DTS, f.Keyframe)
		}
		if !bytes.Equal(bytes.Join(g.NALUs, []byte{0, 0, 1}), bytes.Join(f.NALUs, []byte{0, 0, 1})) {
			t.Errorf("AU %d: NAL units differ", i)
		}
		if g.Params == nil || g.Params.Width != 480 || g.Params.Height != 270 {
			t.Fatalf("AU %d: params %+v", i, g.Params)
		}
	}
}

// TestClipsRoundTrip packetizes the clip with the test packetizer and
// checks every access unit comes back.
func TestClipsRoundTrip(t *testing.T) {
	for _, name := range testcam.H265ClipNames {
		clip, err := testcam.LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sdp := range []bool{true, false} {
			d := NewDepacketizer(nil, nil, nil)
			if sdp {
				d = NewDepacketizer(clip.VPS, clip.SPS, clip.PPS)
			}
			var got []collected
			pk := newPacketizer(65530) // wraps the sequence number
			var aps, fus int
			for _, f := range clip.Frames {
				for _, p := range pk.packetize(f.NALUs, uint32(90000+f.PTS)) {
					switch p.Payload[0] >> 1 {
					case naluAP:
						aps++
					case naluFU:
						fus++
					}
					if err := d.Push(p, collector(&got)); err != nil {
						t.Fatalf("seq %d: %v", p.SequenceNumber, err)
					}
				}
			}
			if aps == 0 || fus == 0 {
				t.Fatalf("clip gave %d APs and %d FUs: the test covers neither", aps, fus)
			}
			checkClip(t, clip, got, 90000)
			if !got[0].Changed || got[1].Changed {
				t.Errorf("ParamsChanged %v %v, want true false", got[0].Changed, got[1].Changed)
			}
			if st := d.Stats(); st.AccessUnits != uint64(len(clip.Frames)) || st.Keyframes != 4 || st.Lost != 0 || st.DroppedAUs != 0 {
				t.Errorf("stats %+v", st)
			}
		}
	}
}

// TestClipsIndependentEncoder packetizes the clip with gortsplib's RTP/H265
// encoder (independent of ours and of the test packetizer), sends every
// packet through its wire form, and checks the access units that come back.
func TestClipsIndependentEncoder(t *testing.T) {
	for _, name := range testcam.H265ClipNames {
		clip, err := testcam.LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		ssrc, seq := uint32(0x5eed), uint16(65000)
		enc := &rtph265.Encoder{PayloadType: 96, SSRC: &ssrc, InitialSequenceNumber: &seq, PayloadMaxSize: testMTU}
		if err := enc.Init(); err != nil {
			t.Fatal(err)
		}
		d := NewDepacketizer(clip.VPS, clip.SPS, clip.PPS)
		var got []collected
		var aps, fus int
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
				switch rx.Payload[0] >> 1 {
				case naluAP:
					aps++
				case naluFU:
					fus++
				}
				if err := d.Push(&rx, collector(&got)); err != nil {
					t.Fatalf("seq %d: %v", rx.SequenceNumber, err)
				}
			}
		}
		if aps == 0 || fus == 0 {
			t.Fatalf("encoder gave %d APs and %d FUs", aps, fus)
		}
		checkClip(t, clip, got, 90000)
	}
}

// Joining mid-GOP: nothing comes out before the next keyframe, then every
// frame does.
func TestClipsJoinMidGOP(t *testing.T) {
	clip, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDepacketizer(clip.VPS, clip.SPS, clip.PPS)
	var got []collected
	pk := newPacketizer(0)
	for _, f := range clip.Frames[10:] {
		for _, p := range pk.packetize(f.NALUs, uint32(f.PTS)) {
			_ = d.Push(p, collector(&got))
		}
	}
	if len(got) != 75 || !got[0].Keyframe || got[0].PTS != clip.Frames[25].PTS {
		t.Fatalf("%d AUs, first at PTS %d key %v; want 75 from the keyframe at %d", len(got), got[0].PTS, got[0].Keyframe, clip.Frames[25].PTS)
	}
	if st := d.Stats(); st.SkippedAUs != 15 {
		t.Errorf("%d skipped, want 15", st.SkippedAUs)
	}
}
