package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestParseSenderReport feeds RTCP compounds as senders write them, and
// broken ones.
func TestParseSenderReport(t *testing.T) {
	sr := func(ssrc uint32, ntp uint64, ts uint32) []byte {
		b, err := (&rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: ts, PacketCount: 7, OctetCount: 9,
			Reports: []rtcp.ReceptionReport{{SSRC: 5}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rr, _ := (&rtcp.ReceiverReport{SSRC: 3}).Marshal()
	sdes, _ := (&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "cam"}}}}}).Marshal()
	good := sr(0xAABBCCDD, 0xE1234567_89ABCDEF, 0x01020304)
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	want := SenderReport{SSRC: 0xAABBCCDD, NTP: 0xE1234567_89ABCDEF, RTPTime: 0x01020304}
	short := append([]byte(nil), good[:28]...)
	binary.BigEndian.PutUint16(short[2:], 6) // an SR without report blocks
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"sr", good, true},
		{"sr+sdes", cat(good, sdes), true},
		{"sr without blocks", short, true},
		{"rr first (a sender that leads with an RR)", cat(rr, good), true},
		{"rr only", rr, false},
		{"sdes only", sdes, false},
		{"empty", nil, false},
		{"truncated header", good[:3], false},
		{"truncated sr", good[:20], false},
		{"length past the end", cat(rr[:len(rr)-1]), false},
		{"version 1", append([]byte{0x40}, good[1:]...), false},
		{"sr too short for its fields", []byte{0x80, 200, 0, 1, 1, 2, 3, 4}, false},
		// An RR whose length field runs into the SR after it: the walk
		// stops at the end rather than reading the SR out of frame.
		{"rr claiming the sr", cat([]byte{0x80, 201, 0, byte(len(good) / 4)}, good[:len(good)-4]), false},
	} {
		got, ok := parseSenderReport(c.b)
		if ok != c.ok || (ok && got != want) {
			t.Errorf("%s: %+v %v, want %v", c.name, got, ok, c.ok)
		}
	}
	// A Reolink-style SR, bytes as captured: NTP 0 (no wall clock), which
	// parses; the recorder decides what to do with it.
	b, _ := hex.DecodeString("80c8000612345678000000000000000000015f9000000010000005a0")
	got, ok := parseSenderReport(b)
	if !ok || got.NTP != 0 || got.SSRC != 0x12345678 || got.RTPTime != 0x15f90 {
		t.Errorf("NTP 0 sender report: %+v %v", got, ok)
	}
}

// FuzzSenderReport: any bytes parse or not without panicking, and what
// parses is what the bytes say at the SR's offsets.
func FuzzSenderReport(f *testing.F) {
	b, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: 2, RTPTime: 3}).Marshal()
	f.Add(b)
	rr, _ := (&rtcp.ReceiverReport{SSRC: 3}).Marshal()
	f.Add(append(rr, b...))
	f.Add([]byte{0x80, 200, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, ok := parseSenderReport(b)
		if !ok {
			return
		}
		var w [16]byte
		binary.BigEndian.PutUint32(w[0:], sr.SSRC)
		binary.BigEndian.PutUint64(w[4:], sr.NTP)
		binary.BigEndian.PutUint32(w[12:], sr.RTPTime)
		// Some SR header (version 2, type 200, 24 bytes after it) must be
		// followed by these bytes. Not only the first place they occur:
		// in self-similar bytes they may also start inside the header.
		for i := 4; i+24 <= len(b); i++ {
			if b[i-3] == 200 && b[i-4]>>6 == 2 && bytes.Equal(b[i:i+16], w[:]) {
				return
			}
		}
		t.Fatalf("parsed %+v, not an SR of % x", sr, b)
	})
}

// TestSenderReportsGortsplib: gortsplib's server sends sender reports on
// both tracks; SenderReports has each track's last one, over TCP
// (interleaved channels 1 and 3) and UDP (each track's RTCP port).
func TestSenderReportsGortsplib(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			srv := startRefServerWith(t, refOptions{audio: true, senderReports: true})
			s, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam", AudioTrack: wantAlaw, Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := errors.New("done")
			var v, a SenderReport
			err = s.ReadTracks(ctx, func(TrackKind, *rtp.Packet) error {
				// Called from the callback, as the recorder does.
				if v, a = s.SenderReports(); v.N >= 2 && a.N >= 2 {
					return done
				}
				return nil
			})
			if !errors.Is(err, done) {
				t.Fatalf("ReadTracks: %v; last reports video %+v audio %+v", err, v, a)
			}
			if v.SSRC != 0x1111 || v.NTP>>32 != srVideoNTP>>32 || a.SSRC != 0x2222 || a.NTP>>32 != srAudioNTP>>32 {
				t.Fatalf("video %+v, audio %+v", v, a)
			}
			// The RTP times go with the NTP: tick i has video i-th frame's
			// time, audio i/2*160.
			if i := a.NTP - srAudioNTP; a.RTPTime != uint32(i/2*160) {
				t.Errorf("audio SR of tick %d has RTP time %d", i, a.RTPTime)
			}
			if time.Since(v.Arrival) > 5*time.Second || time.Since(a.Arrival) > 5*time.Second {
				t.Errorf("arrivals %v %v", v.Arrival, a.Arrival)
			}
		})
	}
}
