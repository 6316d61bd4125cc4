package h264

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
	"github.com/pion/rtp"
)

// Very large NAL units (several MB, real 4K IDRs) must come through whole.
func TestLargeNALU(t *testing.T) {
	big := make([]byte, 5<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.IntN(255) + 1) // no zero bytes: no start codes
	}
	big[0] = 0x65
	pk := newPacketizer(100)
	d := NewDepacketizer(spsA, ppsA)
	var got []collected
	for _, pkt := range pk.packetize([][]byte{aud, big, idr2}, 9000) {
		if err := d.Push(pkt, collector(&got)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || len(got[0].NALUs) != 3 || !bytes.Equal(got[0].NALUs[1], big) || !got[0].Keyframe {
		t.Fatalf("5 MiB IDR did not come through whole: %d AUs", len(got))
	}
}

// R9: an FU-A that never ends is discarded at MaxAccessUnitSize, with one
// error, and the buffer never grows past the bound.
func TestFUABomb(t *testing.T) {
	d := NewDepacketizer(spsA, ppsA)
	first, middle := make([]byte, 1400), make([]byte, 1400)
	first[0], first[1] = indIDR, 0x85
	middle[0], middle[1] = indIDR, 0x05
	nalrtptest.FUBomb(t, first, middle, func(p *rtp.Packet) (bool, error) {
		n := 0
		err := d.Push(p, func(*AccessUnit) { n++ })
		return n > 0, err
	}, ErrTooLarge, d.e.BufCap)
	if st := d.Stats(); st.DroppedAUs != 1 || st.AccessUnits != 0 {
		t.Errorf("stats %+v, want 1 dropped AU", st)
	}
}

// R11: malformed RTP headers are pion/rtp's job. Check that Unmarshal
// refuses them, so they never reach Push.
func TestRTPHeaderMalformed(t *testing.T) {
	hdr := func(b0 byte, rest ...byte) []byte {
		return append([]byte{b0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, rest...)
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"padding larger than payload", hdr(0xa0, 0x65, 0x88, 0x10)},
		{"padding size zero", hdr(0xa0, 0x65, 0x88, 0x00)},
		{"extension longer than packet", hdr(0x90, 0xbe, 0xde, 0x00, 0x40, 0x65)},
		{"extension header cut", hdr(0x90, 0xbe)},
		{"CSRC count past the end", hdr(0x8f, 0, 0, 0, 1)},
		{"shorter than a header", []byte{0x80, 96, 0, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pkt rtp.Packet
			if err := pkt.Unmarshal(c.b); err == nil {
				t.Fatalf("pion/rtp accepted %x (payload %x)", c.b, pkt.Payload)
			}
		})
	}
	// And Push copes with what a careless caller could still hand over.
	d := NewDepacketizer(spsA, ppsA)
	if err := d.Push(nil, func(*AccessUnit) {}); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil packet: %v", err)
	}
}

// Loss and reordering on a real clip: every access unit that comes out is
// byte-identical to a frame of the clip, and after a loss nothing comes out
// until a keyframe (corrupt frames are never passed on as good).
func TestClipLossNeverEmitsCorruptFrames(t *testing.T) {
	for _, name := range testcam.ClipNames {
		clip, err := testcam.LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"drop", "swap"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				byPTS := map[int64]int{}
				// Damage one packet in the middle of frames 10, 25 (a keyframe
				// in the 1 s GOP clips), 62 and 80.
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
				damaged := map[int]bool{}
				var feed []*rtp.Packet
				for i := 0; i < len(pkts); i++ {
					if !damageAt[i] || i+1 >= len(pkts) {
						feed = append(feed, pkts[i])
						continue
					}
					damaged[i] = true
					if mode == "swap" {
						feed = append(feed, pkts[i+1], pkts[i])
						i++
					}
				}
				d := NewDepacketizer(nil, nil)
				lastFrame := -1
				needKey := true
				var emitted int
				emit := func(au *AccessUnit) {
					emitted++
					i, ok := byPTS[au.PTS]
					if !ok {
						t.Fatalf("AU with PTS %d is no frame of the clip", au.PTS)
					}
					f := clip.Frames[i]
					if len(au.NALUs) != len(f.NALUs) {
						t.Fatalf("frame %d: %d NALUs, want %d", i, len(au.NALUs), len(f.NALUs))
					}
					for j := range f.NALUs {
						if !bytes.Equal(au.NALUs[j], f.NALUs[j]) {
							t.Fatalf("frame %d: NALU %d corrupt", i, j)
						}
					}
					if i <= lastFrame {
						t.Fatalf("frame %d after frame %d", i, lastFrame)
					}
					if i != lastFrame+1 && !au.Keyframe {
						t.Fatalf("frame %d follows frame %d without a keyframe: its reference is missing", i, lastFrame)
					}
					if needKey && !au.Keyframe {
						t.Fatalf("frame %d is not a keyframe but output was resyncing", i)
					}
					needKey = false
					lastFrame = i
				}
				var losses int
				for _, pkt := range feed {
					if err := d.Push(pkt, emit); errors.Is(err, ErrPacketLoss) {
						losses++
					}
				}
				d.Flush(emit)
				if losses == 0 || emitted == 0 {
					t.Fatalf("%d losses reported, %d AUs emitted: the test damaged nothing or everything", losses, emitted)
				}
				st := d.Stats()
				if mode == "drop" && st.Lost != uint64(len(damaged)) {
					t.Errorf("Lost %d, want %d", st.Lost, len(damaged))
				}
				if mode == "swap" && st.Late != uint64(len(damaged)) {
					t.Errorf("Late %d, want %d", st.Late, len(damaged))
				}
			})
		}
	}
}

// Tapo cameras send 10,000-byte UDP datagrams: payloads far above the
// Ethernet MTU must depacketize like any other.
func TestLargeDatagrams(t *testing.T) {
	clip, err := testcam.LoadClip(testcam.ClipMain720)
	if err != nil {
		t.Fatal(err)
	}
	pk := newPacketizer(7)
	pk.mtu = 10000
	d := NewDepacketizer(nil, nil)
	var got []collected
	var big int
	for _, f := range clip.Frames {
		for _, pkt := range pk.packetize(f.NALUs, uint32(f.PTS)) {
			if len(pkt.Payload) > 9000 {
				big++
			}
			if err := d.Push(pkt, collector(&got)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if big == 0 || len(got) != len(clip.Frames) {
		t.Fatalf("%d large packets, %d AUs of %d", big, len(got), len(clip.Frames))
	}
	for i, f := range clip.Frames {
		if !bytes.Equal(bytes.Join(got[i].NALUs, nil), bytes.Join(f.NALUs, nil)) || len(got[i].NALUs) != len(f.NALUs) {
			t.Fatalf("AU %d differs", i)
		}
	}
}
