// Package nalrtptest holds what the tests of recorder/h264 and
// recorder/h265 share: a table step (one RTP packet and what pushing it must
// do), running a table's steps, and the byte format the depacketizer fuzz
// targets decode into packets (so each table seeds its fuzzer). Test
// support only: no production code imports it.
package nalrtptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/nvr-project/nvr/recorder/internal/nalrtp"
	"github.com/pion/rtp"
)

// Step is one packet of a table case and what its Push must do.
type Step struct {
	Seq   uint16
	TS    uint32
	M     bool // marker bit
	P     []byte
	SSRC  uint32 // 0 means 1
	Err   error  // sentinel the Push error must wrap, or nil
	Emits int    // access units emitted by this Push
}

// Packet is the step's RTP packet, with a copy of its payload.
func (s Step) Packet() *rtp.Packet {
	ssrc := s.SSRC
	if ssrc == 0 {
		ssrc = 1
	}
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.Seq, Timestamp: s.TS, SSRC: ssrc, Marker: s.M},
		Payload: bytes.Clone(s.P),
	}
}

// RunSteps pushes every step's packet and checks the error and the number
// of access units emitted; emitted reports the running total. The payload
// is zeroed after each push, so anything the depacketizer kept from it
// reads as zeros.
func RunSteps(t *testing.T, steps []Step, push func(*rtp.Packet) error, emitted func() int) {
	t.Helper()
	for i, s := range steps {
		before := emitted()
		pkt := s.Packet()
		err := push(pkt)
		clear(pkt.Payload)
		switch {
		case s.Err == nil && err != nil:
			t.Errorf("step %d (seq %d): unexpected error %v", i, s.Seq, err)
		case s.Err != nil && !errors.Is(err, s.Err):
			t.Errorf("step %d (seq %d): error %v, want %v", i, s.Seq, err, s.Err)
		}
		if n := emitted() - before; n != s.Emits {
			t.Errorf("step %d (seq %d): emitted %d AUs, want %d", i, s.Seq, n, s.Emits)
		}
	}
}

// Fuzz input format: one byte of options (bit 0: start with the SDP's
// parameter sets), then records of flags (bit 0 marker, bit 1 second
// SSRC), sequence number (2 bytes), timestamp (4), payload length (2) and
// payload.
const recordHeader = 9

// EncodeFuzz turns a table case into a fuzz input.
func EncodeFuzz(sdp bool, steps []Step) []byte {
	var b []byte
	if sdp {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range steps {
		var flags byte
		if s.M {
			flags |= 1
		}
		if s.SSRC > 1 {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.BigEndian.AppendUint16(b, s.Seq)
		b = binary.BigEndian.AppendUint32(b, s.TS)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.P)))
		b = append(b, s.P...)
	}
	return b
}

// DecodeFuzz reads a fuzz input: whether to start with the SDP's parameter
// sets, and the packets in order (payloads alias data).
func DecodeFuzz(data []byte) (sdp bool, pkts []*rtp.Packet) {
	if len(data) == 0 {
		return false, nil
	}
	sdp = data[0]&1 != 0
	data = data[1:]
	for len(data) >= recordHeader {
		flags := data[0]
		n := int(binary.BigEndian.Uint16(data[7:9]))
		pkt := &rtp.Packet{Header: rtp.Header{
			Marker:         flags&1 != 0,
			SequenceNumber: binary.BigEndian.Uint16(data[1:3]),
			Timestamp:      binary.BigEndian.Uint32(data[3:7]),
			SSRC:           1 + uint32(flags>>1&1),
		}}
		data = data[recordHeader:]
		pkt.Payload = data[:min(n, len(data))]
		data = data[len(pkt.Payload):]
		pkts = append(pkts, pkt)
	}
	return sdp, pkts
}

// FUBomb sends fragments of one never-ending fragmented unit (first, then
// middle over and over) until 1 MiB past nalrtp.MaxAccessUnitSize, and
// checks R9: exactly one push reports tooLarge, nothing is emitted (push
// reports emits), and the buffer never grows past the bound.
func FUBomb(t *testing.T, first, middle []byte, push func(*rtp.Packet) (emitted bool, err error), tooLarge error, bufCap func() int) {
	t.Helper()
	var n int
	seq := uint16(0)
	frag := first
	for sent := 0; sent < nalrtp.MaxAccessUnitSize+(1<<20); sent += len(middle) {
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: 1000, SSRC: 1}, Payload: frag}
		emitted, err := push(pkt)
		if emitted {
			t.Fatal("nothing may be emitted")
		}
		if errors.Is(err, tooLarge) {
			n++
		} else if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		frag = middle
		seq++
	}
	if n != 1 {
		t.Errorf("%d errors wrapping %v, want 1", n, tooLarge)
	}
	if c := bufCap(); c > nalrtp.MaxAccessUnitSize {
		t.Errorf("buffer capacity %d passed the %d bound", c, nalrtp.MaxAccessUnitSize)
	}
}

// BenchPush pushes pkts (one loop of a clip lasting clipDuration 90 kHz
// ticks) b.N times with continuous sequence numbers and timestamps, and
// reports packets/s; MB/s is the payload bytes. It fails if a push errs.
func BenchPush(b *testing.B, pkts []*rtp.Packet, clipDuration int64, push func(*rtp.Packet) error) {
	var bytes int64
	for _, p := range pkts {
		bytes += int64(len(p.Payload))
	}
	b.SetBytes(bytes / int64(len(pkts)))
	// One packet reused: push is a func value, so a packet made in the
	// loop would escape and count as an allocation per packet.
	pkt := new(rtp.Packet)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[i%len(pkts)]
		loop := uint32(i / len(pkts))
		// Work on a copy of the header so the loop stays continuous.
		*pkt = rtp.Packet{Header: p.Header, Payload: p.Payload}
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp += loop * uint32(clipDuration)
		if err := push(pkt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
