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
