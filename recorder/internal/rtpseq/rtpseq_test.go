package rtpseq

import (
	"testing"

	"github.com/pion/rtp"
)

func pkt(seq uint16, ts uint32, ssrc uint32) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}}
}

func TestTracker(t *testing.T) {
	var tr Tracker
	steps := []struct {
		p       *rtp.Packet
		kind    Kind
		missing uint16
		ts      int64
	}{
		{pkt(65534, 4294967000, 1), InOrder, 0, 4294967000},
		{pkt(65535, 4294967200, 1), InOrder, 0, 4294967200},
		{pkt(0, 104, 1), InOrder, 0, 4294967296 + 104}, // both wrap (R14, R16)
		{pkt(3, 400, 1), Lost, 2, 4294967296 + 400},
		{pkt(2, 300, 1), Late, 0, 4294967296 + 400}, // late: the clock does not move
		{pkt(4, 500, 1), InOrder, 0, 4294967296 + 500},
		{pkt(20000, 600, 1), Jumped, 0, 4294967296 + 600},
		{pkt(20001, 300, 1), InOrder, 0, 4294967296 + 300}, // timestamps may step back (B-frames)
	}
	for i, s := range steps {
		got := tr.Advance(s.p)
		if got.Kind != s.kind || got.Missing != s.missing || got.TS != s.ts {
			t.Fatalf("step %d: %+v, want kind %d missing %d ts %d", i, got, s.kind, s.missing, s.ts)
		}
	}
	if tr.SSRCChanged(pkt(20002, 700, 1)) || !tr.SSRCChanged(pkt(20002, 700, 2)) {
		t.Fatal("SSRCChanged")
	}
	tr.Forget()
	if tr.SSRCChanged(pkt(9, 800, 2)) {
		t.Fatal("SSRC still followed after Forget")
	}
	// After Forget any sequence number is in order; the extension stays.
	if got := tr.Advance(pkt(9, 800, 2)); got.Kind != InOrder || got.TS != 4294967296+800 {
		t.Fatalf("after Forget: %+v", got)
	}
}
