package h264

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
)

// TestClipsRoundTrip packetizes every embedded clip and checks that the
// depacketizer gives back the same access units: count, keyframes, NAL unit
// bytes, PTS, and DTS up to a constant offset. The RTP timestamps start just
// before 2^32, so each clip also crosses the 32-bit wrap (R14), and the
// sequence numbers cross 65535→0 (R16).
func TestClipsRoundTrip(t *testing.T) {
	for _, name := range testcam.ClipNames {
		t.Run(name, func(t *testing.T) {
			clip, err := testcam.LoadClip(name)
			if err != nil {
				t.Fatal(err)
			}
			// The first timestamp is 40,000 ticks before 2^32.
			tsBase := uint32(1<<32-40000) - uint32(clip.Frames[0].PTS)
			pk := newPacketizer(65500)
			d := NewDepacketizer(nil, nil) // parameter sets in-band only
			var got []collected
			emit := collector(&got)
			for _, f := range clip.Frames {
				ts := tsBase + uint32(f.PTS)
				for _, pkt := range pk.packetize(f.NALUs, ts) {
					if err := d.Push(pkt, emit); err != nil {
						t.Fatalf("Push seq %d: %v", pkt.SequenceNumber, err)
					}
				}
			}
			d.Flush(emit)
			if len(got) != len(clip.Frames) {
				t.Fatalf("got %d access units, want %d", len(got), len(clip.Frames))
			}
			st := d.Stats()
			if st.Lost != 0 || st.DroppedAUs != 0 || st.Rejected != 0 || st.SkippedAUs != 0 {
				t.Errorf("stats %+v, want no loss, drops or rejects", st)
			}
			var keyframes uint64
			dtsOffset := got[0].DTS - clip.Frames[0].DTS
			for i, f := range clip.Frames {
				au := got[i]
				if au.Keyframe != f.Keyframe {
					t.Errorf("AU %d: keyframe %v, want %v", i, au.Keyframe, f.Keyframe)
				}
				if au.Keyframe {
					keyframes++
				}
				if want := int64(tsBase) + f.PTS; au.PTS != want {
					t.Errorf("AU %d: PTS %d, want %d", i, au.PTS, want)
				}
				if au.DTS-f.DTS != dtsOffset {
					t.Errorf("AU %d: DTS %d, clip DTS %d: offset %d, want %d", i, au.DTS, f.DTS, au.DTS-f.DTS, dtsOffset)
				}
				if au.DTS > au.PTS {
					t.Errorf("AU %d: DTS %d > PTS %d", i, au.DTS, au.PTS)
				}
				if len(au.NALUs) != len(f.NALUs) {
					t.Fatalf("AU %d: %d NAL units, want %d", i, len(au.NALUs), len(f.NALUs))
				}
				for j := range f.NALUs {
					if !bytes.Equal(au.NALUs[j], f.NALUs[j]) {
						t.Fatalf("AU %d NALU %d differs", i, j)
					}
				}
				if !bytes.Equal(au.SPS, clip.SPS) || !bytes.Equal(au.PPS, clip.PPS) {
					t.Errorf("AU %d: parameter sets differ from the clip's", i)
				}
				if au.ParamsChanged != (i == 0) {
					t.Errorf("AU %d: ParamsChanged %v", i, au.ParamsChanged)
				}
				// The parsed parameter sets travel with every AU, parsed
				// once: one pointer for the whole clip.
				if au.Params == nil || au.Params != got[0].Params {
					t.Errorf("AU %d: Params %p, want the first AU's %p", i, au.Params, got[0].Params)
				}
			}
			if want, err := ParseParams(clip.SPS, clip.PPS); err != nil || got[0].Params == nil || !reflect.DeepEqual(*got[0].Params, want) {
				t.Errorf("Params %+v, want ParseParams' %+v (%v)", got[0].Params, want, err)
			}
			if !got[0].Keyframe {
				t.Error("first AU is not a keyframe")
			}
			if st.AccessUnits != uint64(len(got)) || st.Keyframes != keyframes {
				t.Errorf("stats %+v, want %d AUs, %d keyframes", st, len(got), keyframes)
			}
		})
	}
}

// Joining a stream mid-GOP (the usual case for a camera): nothing comes out
// before the next keyframe, then every picture does, with valid decode times.
func TestClipsJoinMidGOP(t *testing.T) {
	for _, name := range testcam.ClipNames {
		t.Run(name, func(t *testing.T) {
			clip, err := testcam.LoadClip(name)
			if err != nil {
				t.Fatal(err)
			}
			const join = 7
			next := join
			for !clip.Frames[next].Keyframe {
				next++
			}
			pk := newPacketizer(1)
			d := NewDepacketizer(clip.SPS, clip.PPS)
			var got []collected
			emit := collector(&got)
			for _, f := range clip.Frames[join:] {
				for _, pkt := range pk.packetize(f.NALUs, uint32(f.PTS+90000)) {
					if err := d.Push(pkt, emit); err != nil {
						t.Fatalf("seq %d: %v", pkt.SequenceNumber, err)
					}
				}
			}
			d.Flush(emit)
			if want := len(clip.Frames) - next; len(got) != want {
				t.Fatalf("%d AUs, want %d (from frame %d)", len(got), want, next)
			}
			if !got[0].Keyframe || got[0].PTS != clip.Frames[next].PTS+90000 {
				t.Fatalf("first AU: key %v PTS %d, want frame %d", got[0].Keyframe, got[0].PTS, next)
			}
			if st := d.Stats(); st.SkippedAUs != uint64(next-join) {
				t.Errorf("SkippedAUs %d, want %d", st.SkippedAUs, next-join)
			}
			for i, au := range got {
				if au.DTS > au.PTS || (i > 0 && au.DTS <= got[i-1].DTS) {
					t.Fatalf("AU %d: DTS %d PTS %d after DTS %d", i, au.DTS, au.PTS, got[max(i-1, 0)].DTS)
				}
			}
		})
	}
}
