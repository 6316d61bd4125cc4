package h264

import (
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
		d := NewDepacketizer(nil, nil)
		if sdp {
			d = NewDepacketizer(spsA, ppsA)
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
			case au.Keyframe && (au.SPS == nil || au.PPS == nil):
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

func FuzzParseSprop(f *testing.F) {
	for _, c := range spropCases() {
		f.Add(c.value)
	}
	f.Fuzz(func(t *testing.T, value string) {
		sps, pps := ParseSprop(value)
		if sps != nil {
			if _, err := parseSPS(sps); err != nil {
				t.Fatalf("returned an SPS that does not parse: %v", err)
			}
		}
		if pps != nil && checkPPS(pps) != nil {
			t.Fatalf("returned a PPS that is not one: %x", pps)
		}
		if sps != nil && pps != nil {
			if _, err := ParseParams(sps, pps); err != nil {
				t.Fatalf("ParseParams refused what ParseSprop returned: %v", err)
			}
		}
	})
}
