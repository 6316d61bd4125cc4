package h265

import (
	"strings"
	"testing"

	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
)

// FuzzDepacketizer decodes its input as nalrtptest.DecodeFuzz does; the
// table cases seed it.
func FuzzDepacketizer(f *testing.F) {
	for _, c := range depCases() {
		f.Add(nalrtptest.EncodeFuzz(c.sdp, c.steps))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sdp, pkts := nalrtptest.DecodeFuzz(data)
		d := NewDepacketizer(nil, nil, nil)
		if sdp {
			d = NewDepacketizer(vpsA, spsA, ppsA)
		}
		var emitted uint64
		var prevDTS int64
		emit := func(au *AccessUnit) {
			size := 0
			for _, n := range au.NALUs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit emitted")
				}
				size += len(n)
			}
			switch {
			case size > MaxAccessUnitSize:
				t.Fatalf("AU of %d bytes", size)
			case len(au.NALUs) > MaxNALUsPerAccessUnit:
				t.Fatalf("AU of %d NAL units", len(au.NALUs))
			case au.DTS > au.PTS:
				t.Fatalf("DTS %d > PTS %d", au.DTS, au.PTS)
			case emitted == 0 && !au.Keyframe:
				t.Fatal("first AU is not a keyframe")
			case au.Keyframe && (au.VPS == nil || au.SPS == nil || au.PPS == nil || au.Params == nil):
				t.Fatal("keyframe without parameter sets")
			case emitted > 0 && !au.Keyframe && au.DTS <= prevDTS:
				t.Fatalf("DTS %d not after %d", au.DTS, prevDTS)
			}
			prevDTS = au.DTS
			emitted++
		}
		for _, pkt := range pkts {
			_ = d.Push(pkt, emit)
		}
		d.Flush(emit)
		if st := d.Stats(); st.AccessUnits != emitted {
			t.Fatalf("stats count %d AUs, %d emitted", st.AccessUnits, emitted)
		}
	})
}

// FuzzParseSprop feeds the three sprop values, separated by ';' in one
// string, to the parameter parser.
func FuzzParseSprop(f *testing.F) {
	for _, c := range spropCases() {
		f.Add(c.values[0] + ";" + c.values[1] + ";" + c.values[2])
	}
	f.Fuzz(func(t *testing.T, value string) {
		var v [3]string
		copy(v[:], strings.SplitN(value, ";", 3))
		vps, sps, pps := ParseSprop(v[:]...)
		if vps != nil && checkVPS(vps) != nil {
			t.Fatalf("returned a VPS that is not one: %x", vps)
		}
		if sps != nil {
			if _, err := parseSPS(sps); err != nil {
				t.Fatalf("returned an SPS that does not parse: %v", err)
			}
		}
		if pps != nil && checkPPS(pps) != nil {
			t.Fatalf("returned a PPS that is not one: %x", pps)
		}
		if vps != nil && sps != nil && pps != nil {
			p, err := ParseParams(vps, sps, pps)
			if err != nil {
				t.Fatalf("ParseParams refused what ParseSprop returned: %v", err)
			}
			if p.Width <= 0 || p.Height <= 0 || p.Width > 16384 || p.Height > 16384 {
				t.Fatalf("size %dx%d", p.Width, p.Height)
			}
		}
	})
}
