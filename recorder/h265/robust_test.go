package h265

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
	"github.com/pion/rtp"
)

// Very large NAL units (several MB, real 4K IRAPs) must come through whole.
func TestLargeNALU(t *testing.T) {
	big := make([]byte, 5<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.IntN(255) + 1) // no zero bytes: no start codes
	}
	big[0], big[1] = 19<<1, 1
	d := NewDepacketizer(vpsA, spsA, ppsA)
	var got []collected
	for _, pkt := range newPacketizer(100).packetize([][]byte{aud, big, idr2}, 9000) {
		if err := d.Push(pkt, collector(&got)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || len(got[0].NALUs) != 3 || !bytes.Equal(got[0].NALUs[1], big) || !got[0].Keyframe {
		t.Fatalf("5 MiB IDR did not come through whole: %d AUs", len(got))
	}
}

// R9: an FU that never ends is discarded at MaxAccessUnitSize, with one
// error, and the buffer never grows past the bound.
func TestFUBomb(t *testing.T) {
	d := NewDepacketizer(vpsA, spsA, ppsA)
	first, middle := make([]byte, 1400), make([]byte, 1400)
	copy(first, fu(0x80, 19))
	copy(middle, fu(0x00, 19))
	nalrtptest.FUBomb(t, first, middle, func(p *rtp.Packet) (bool, error) {
		n := 0
		err := d.Push(p, func(*AccessUnit) { n++ })
		return n > 0, err
	}, ErrTooLarge, d.e.BufCap)
	if st := d.Stats(); st.DroppedAUs != 1 || st.AccessUnits != 0 {
		t.Errorf("stats %+v, want 1 dropped AU", st)
	}
}

// Loss and reordering on the real clip: every access unit that comes out is
// byte-identical to a frame of the clip, and after a loss nothing comes out
// until a keyframe.
func TestClipLossNeverEmitsCorruptFrames(t *testing.T) {
	clip, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"drop", "swap"} {
		t.Run(mode, func(t *testing.T) {
			byPTS := map[int64]int{}
			pk := newPacketizer(0)
			var pkts []*rtp.Packet
			damageAt := map[int]bool{}
			for i, f := range clip.Frames {
				byPTS[f.PTS+100000] = i
				fp := pk.packetize(f.NALUs, uint32(f.PTS+100000))
				if i == 10 || i == 25 || i == 62 || i == 80 {
					damageAt[len(pkts)+len(fp)/2] = true
				}
				pkts = append(pkts, fp...)
			}
			if mode == "swap" {
				for i := range damageAt {
					pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
				}
			}
			d := NewDepacketizer(clip.VPS, clip.SPS, clip.PPS)
			var got []collected
			for i, p := range pkts {
				if mode == "drop" && damageAt[i] {
					continue
				}
				_ = d.Push(p, collector(&got))
			}
			d.Flush(collector(&got))
			// GOPs start at 0, 25, 50, 75: damage in 10, 25, 62 and 80
			// leaves 0-9, 50-61 and 75-79.
			if len(got) != 27 {
				t.Fatalf("%d AUs survived, want 27", len(got))
			}
			prev := -1
			for _, g := range got {
				i, ok := byPTS[g.PTS]
				if !ok {
					t.Fatalf("AU at PTS %d is no frame of the clip", g.PTS)
				}
				if !bytes.Equal(bytes.Join(g.NALUs, nil), bytes.Join(clip.Frames[i].NALUs, nil)) {
					t.Fatalf("frame %d came out damaged", i)
				}
				if i < prev {
					t.Fatalf("frame %d after %d: decode order broken", i, prev)
				}
				if prev >= 0 && i != prev+1 && !g.Keyframe {
					t.Fatalf("frame %d follows %d without a keyframe: it references a lost picture", i, prev)
				}
				prev = i
			}
		})
	}
}
