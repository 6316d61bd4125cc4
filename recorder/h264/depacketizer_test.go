package h264

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"

	"github.com/nvr-project/nvr/recorder/internal/nalrtp/nalrtptest"
	"github.com/pion/rtp"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Parameter sets of the embedded clips (base240: 320x240 Constrained
// Baseline; main720: 1280x720 Main), and small stand-ins for other units.
// Slices are opaque to the depacketizer, so short fake ones do.
var (
	spsA = mustHex("6742c00dda0507ec0440000003004000000c83c50aa8")
	ppsA = mustHex("68ce3c80")
	spsB = mustHex("674d401fda014016ec0440000003004000000c83c60ca8")
	ppsB = mustHex("68ef3c80")
	idr  = []byte{0x65, 0x88, 0x84, 0x21, 0xa0}
	idr2 = []byte{0x65, 0x00, 0x84, 0x21, 0xa1} // second slice of the same picture
	p1   = []byte{0x41, 0x9a, 0x02, 0x03}
	sei  = []byte{0x06, 0x05, 0x01, 0xff}
	aud  = []byte{0x09, 0xf0}
)

// stap builds a STAP-A payload (RFC 6184 §5.7.1).
func stap(nalus ...[]byte) []byte {
	b := []byte{naluSTAPA}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// fu builds an FU-A payload from its indicator, header and data.
func fu(ind, hdr byte, data ...byte) []byte { return append([]byte{ind, hdr}, data...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// step is one packet of a table case and what its Push must do.
type step = nalrtptest.Step

type wantAU struct {
	pts     int64
	key     bool
	nalus   [][]byte
	sps     []byte
	changed bool
}

type depCase struct {
	name  string
	sdp   bool // start with spsA/ppsA from the SDP
	sps   []byte
	pps   []byte
	steps []step
	flush int // access units Flush must emit
	want  []wantAU
	stats Stats
}

// FU-A indicator of an IDR (nal_ref_idc 3) and of an AUD (nal_ref_idc 0).
const (
	indIDR = 0x7c
	indAUD = 0x1c
)

func depCases() []depCase {
	key := func(pts int64, sps []byte, changed bool, nalus ...[]byte) wantAU {
		return wantAU{pts: pts, key: true, nalus: nalus, sps: sps, changed: changed}
	}
	delta := func(pts int64, sps []byte, nalus ...[]byte) wantAU {
		return wantAU{pts: pts, nalus: nalus, sps: sps}
	}
	tooMany := make([]step, 0, 28)
	for i := range MaxNALUsPerAccessUnit {
		tooMany = append(tooMany, step{Seq: uint16(i + 1), TS: 1000, P: sei})
	}
	tooMany = append(tooMany,
		step{Seq: 26, TS: 1000, P: sei, Err: ErrTooLarge},
		step{Seq: 27, TS: 1000, M: true, P: idr},
		step{Seq: 28, TS: 4600, M: true, P: idr, Emits: 1})

	return []depCase{
		{name: "single NAL IDR with SDP params", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "STAP-A params in-band then IDR",
			steps: []step{{Seq: 1, TS: 1000, P: stap(spsA, ppsA)}, {Seq: 2, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, spsA, ppsA, idr)},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "in-band params override SDP", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: stap(spsB, ppsB)}, {Seq: 2, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsB, true, spsB, ppsB, idr)},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "FU-A reassembly", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 2, TS: 1000, P: fu(indIDR, 0x05, 0x21)},
				{Seq: 3, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1}},
		{name: "R6 FU-A middle fragment first is dropped until next start", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x05, 0x21), Err: ErrPacketLoss},
				{Seq: 2, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0)},
				{Seq: 3, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 3, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R6 FU-A end fragment first", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0), Err: ErrPacketLoss},
				{Seq: 2, TS: 4600, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 3, TS: 4600, P: fu(indIDR, 0x05, 0x21)},
				{Seq: 4, TS: 4600, M: true, P: fu(indIDR, 0x45, 0xa0), Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 4, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R7 sequence gap inside FU-A drops the AU and waits for a keyframe", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 3, TS: 1000, P: fu(indIDR, 0x05, 0x21), Err: ErrPacketLoss},
				{Seq: 4, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0)},
				{Seq: 5, TS: 4600, M: true, P: p1},
				{Seq: 6, TS: 8200, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(8200, spsA, true, idr)},
			stats: Stats{Packets: 5, Lost: 1, DroppedAUs: 1, SkippedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R7 reordered FU-A fragments drop the AU", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 3, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0), Err: ErrPacketLoss},
				{Seq: 2, TS: 1000, P: fu(indIDR, 0x05, 0x21), Err: ErrPacketLoss},
				{Seq: 4, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 4, Lost: 1, Late: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R7 loss between pictures resyncs at the next keyframe", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 4600, M: true, P: p1, Emits: 1},
				{Seq: 4, TS: 8200, M: true, P: p1, Err: ErrPacketLoss},
				{Seq: 5, TS: 11800, M: true, P: p1},
				{Seq: 6, TS: 15400, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1), key(15400, spsA, false, idr)},
			stats: Stats{Packets: 5, Lost: 1, DroppedAUs: 1, SkippedAUs: 1, AccessUnits: 3, Keyframes: 2}},
		{name: "R7 loss then an AU that visibly starts (SPS first) is kept", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 3, TS: 4600, P: stap(spsA, ppsA), Err: ErrPacketLoss},
				{Seq: 4, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), key(4600, spsA, false, spsA, ppsA, idr)},
			stats: Stats{Packets: 3, Lost: 1, AccessUnits: 2, Keyframes: 2}},
		{name: "R8 FU-A with start and end bits (CostarHD)", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: fu(indIDR, 0xc5, 0x88, 0x84, 0x21, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R8 FU-A reserved bit set (Longse)", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0xa5, 0x88, 0x84)},
				{Seq: 2, TS: 1000, M: true, P: fu(indIDR, 0x65, 0x21, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "R8 FU-A type changes mid-unit", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 2, TS: 1000, P: fu(indIDR, 0x01, 0x21)},
				{Seq: 3, TS: 1000, M: true, P: fu(indIDR, 0x41, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1}},
		{name: "R8 empty FU-A fragment", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84, 0x21)},
				{Seq: 2, TS: 1000, P: fu(indIDR, 0x05)},
				{Seq: 3, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1}},
		{name: "R7 second gap inside an already damaged AU counts it once", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 3, TS: 1000, P: fu(indIDR, 0x05, 0x21), Err: ErrPacketLoss},
				{Seq: 5, TS: 1000, M: true, P: fu(indIDR, 0x45, 0xa0), Err: ErrPacketLoss},
				{Seq: 6, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 4, Lost: 2, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R7 loss then an Annex B payload that starts the AU is kept", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 3, TS: 4600, M: true, P: cat([]byte{0, 0, 0, 1}, aud, []byte{0, 0, 0, 1}, idr), Err: ErrPacketLoss, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), key(4600, spsA, false, aud, idr)},
			stats: Stats{Packets: 2, Lost: 1, AccessUnits: 2, Keyframes: 2}},
		{name: "R9 FU-A that never ends is dropped at the next timestamp", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indIDR, 0x85, 0x88, 0x84)},
				{Seq: 2, TS: 4600, M: true, P: idr, Err: ErrPacketLoss, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R9 more than 25 NAL units", sdp: true, steps: tooMany,
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 28, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R9 marker bit inside FU-A", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: fu(indIDR, 0x85, 0x88, 0x84), Err: ErrMalformed},
				{Seq: 2, TS: 1000, M: true, P: fu(indIDR, 0x45, 0x21, 0xa0)},
				{Seq: 3, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 3, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R10 STAP-A length past the end", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x78, 0x00, 0x10, 0x65, 0x88}, Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R10 STAP-A zero length before data", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x78, 0x00, 0x00, 0x00, 0x05, 0x65, 0x88, 0x84, 0x21, 0xa0}, Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R10 STAP-A odd tail byte", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: cat(stap(idr), []byte{0x00}), Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R10 STAP-A without units", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x78}, Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "STAP-A trailing zero padding accepted", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: cat(stap(aud, idr), []byte{0, 0, 0, 0}), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, aud, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "FU-A without FU header", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{indIDR}, Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "STAP-B (interleaved mode) rejected", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x79, 0x00, 0x01, 0x00, 0x02, 0x65, 0x88}, Err: ErrMalformed},
				{Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, Rejected: 1, DroppedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "undefined NAL type ignored without harming the AU", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: idr},
				{Seq: 2, TS: 1000, P: []byte{0x1e, 0x01}, Err: ErrMalformed},
				{Seq: 3, TS: 1000, M: true, P: idr2, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr, idr2)},
			stats: Stats{Packets: 3, Rejected: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "empty payload rejected without harming the AU", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: idr},
				{Seq: 2, TS: 1000, P: []byte{}, Err: ErrMalformed},
				{Seq: 3, TS: 1000, M: true, P: idr2, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr, idr2)},
			stats: Stats{Packets: 3, Rejected: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "no marker bit: a new timestamp ends the AU (FLIR M400)", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: idr}, {Seq: 2, TS: 4600, P: p1, Emits: 1}},
			flush: 1,
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "two AUs completed by one packet", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: idr}, {Seq: 2, TS: 4600, M: true, P: p1, Emits: 2}},
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "marker bit on SPS and PPS does not split the AU (H264DVR)",
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: spsA},
				{Seq: 2, TS: 1000, M: true, P: ppsA},
				{Seq: 3, TS: 1000, M: true, P: sei},
				{Seq: 4, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, spsA, ppsA, sei, idr)},
			stats: Stats{Packets: 4, AccessUnits: 1, Keyframes: 1}},
		{name: "parameter sets under their own timestamp are kept for the next IDR",
			steps: []step{{Seq: 1, TS: 1000, M: true, P: stap(spsA, ppsA)}, {Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "Annex B start codes inside a single NAL payload",
			steps: []step{{Seq: 1, TS: 1000, M: true, P: cat([]byte{0, 0, 0, 1}, spsA, []byte{0, 0, 0, 1}, ppsA, []byte{0, 0, 1}, idr), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, spsA, ppsA, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "Annex B start code inside a reassembled FU-A", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(indAUD, 0x89, 0xf0, 0, 0, 1)},
				{Seq: 2, TS: 1000, M: true, P: fu(indAUD, 0x49, 0x65, 0x88, 0x84, 0x21, 0xa0), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, aud, idr)},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "filler data is dropped", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: stap(idr, []byte{0x0c, 0xff, 0xff, 0x80}), Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R12 keyframe without params waits for in-band ones",
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams},
				{Seq: 2, TS: 4600, M: true, P: p1},
				{Seq: 3, TS: 8200, P: stap(spsA, ppsA)},
				{Seq: 4, TS: 8200, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(8200, spsA, true, spsA, ppsA, idr)},
			stats: Stats{Packets: 4, SkippedAUs: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "R12 garbage SDP params are ignored", sps: []byte{0x67, 0xff}, pps: []byte{0x68},
			steps: []step{{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams}},
			stats: Stats{Packets: 1, SkippedAUs: 1}},
		{name: "SDP SPS with a stray trailing byte (Reolink) is usable", sps: cat(spsA, []byte{0x00}), pps: ppsA,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, cat(spsA, []byte{0x00}), true, idr)},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "params only in the SDP, never in-band (Axis): every keyframe is emitted", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 4600, M: true, P: p1, Emits: 1},
				{Seq: 3, TS: 8200, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1), key(8200, spsA, false, idr)},
			stats: Stats{Packets: 3, AccessUnits: 3, Keyframes: 2}},
		{name: "R12 SDP with SPS only (Hikvision) waits for in-band PPS", sps: spsA,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams},
				{Seq: 2, TS: 4600, P: ppsA},
				{Seq: 3, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, ppsA, idr)},
			stats: Stats{Packets: 3, SkippedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "first AU that is not a keyframe is skipped", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: p1}, {Seq: 2, TS: 4600, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(4600, spsA, true, idr)},
			stats: Stats{Packets: 2, SkippedAUs: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R14 RTP timestamp wrap keeps PTS continuous", sdp: true,
			steps: []step{
				{Seq: 1, TS: 0xfffff000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 0x00000c20, M: true, P: p1, Emits: 1}},
			want:  []wantAU{key(0xfffff000, spsA, true, idr), delta(0xfffff000+7200, spsA, p1)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 2 - 1}},
		{name: "backward timestamp jump at a keyframe stays signed", sdp: true,
			steps: []step{
				{Seq: 1, TS: 100, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 0xffffff00, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(100, spsA, true, idr), key(-256, spsA, false, idr)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 2}},
		{name: "R16 sequence wrap 65535 to 0 is no loss", sdp: true,
			steps: []step{
				{Seq: 65535, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 0, TS: 4600, M: true, P: p1, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "R17 SSRC change is accepted without false loss", sdp: true,
			steps: []step{
				{Seq: 100, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 5000, TS: 4600, M: true, P: idr, SSRC: 2, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), key(4600, spsA, false, idr)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 2}},
		{name: "R17 SSRC change completes an unmarked AU", sdp: true,
			steps: []step{
				{Seq: 100, TS: 1000, P: idr},
				{Seq: 7, TS: 4600, M: true, P: idr, SSRC: 2, Emits: 2}},
			want:  []wantAU{key(1000, spsA, true, idr), key(4600, spsA, false, idr)},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 2}},
		{name: "R17 after an SSRC change output resumes at a keyframe", sdp: true,
			steps: []step{
				{Seq: 100, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 7, TS: 4600, M: true, P: p1, SSRC: 2},
				{Seq: 8, TS: 8200, M: true, P: idr, SSRC: 2, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), key(8200, spsA, false, idr)},
			stats: Stats{Packets: 3, SkippedAUs: 1, AccessUnits: 2, Keyframes: 2}},
		{name: "restarted sequence numbers are not counted as loss", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 40000, TS: 4600, M: true, P: p1, Err: ErrPacketLoss},
				{Seq: 40001, TS: 8200, M: true, P: idr, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), key(8200, spsA, false, idr)},
			stats: Stats{Packets: 3, DroppedAUs: 1, AccessUnits: 2, Keyframes: 2}},
		{name: "duplicate packet is discarded", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrPacketLoss},
				{Seq: 2, TS: 4600, M: true, P: p1, Emits: 1}},
			want:  []wantAU{key(1000, spsA, true, idr), delta(4600, spsA, p1)},
			stats: Stats{Packets: 3, Late: 1, AccessUnits: 2, Keyframes: 1}},
		{name: "R18 SPS change sets ParamsChanged",
			steps: []step{
				{Seq: 1, TS: 1000, P: stap(spsA, ppsA)},
				{Seq: 2, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 3, TS: 4600, M: true, P: p1, Emits: 1},
				{Seq: 4, TS: 8200, P: stap(spsB, ppsB)},
				{Seq: 5, TS: 8200, M: true, P: idr, Emits: 1}},
			want: []wantAU{
				key(1000, spsA, true, spsA, ppsA, idr),
				delta(4600, spsA, p1),
				key(8200, spsB, true, spsB, ppsB, idr)},
			stats: Stats{Packets: 5, AccessUnits: 3, Keyframes: 2}},
	}
}

func (c depCase) depacketizer() *Depacketizer {
	if c.sdp {
		return NewDepacketizer(spsA, ppsA)
	}
	return NewDepacketizer(c.sps, c.pps)
}

func TestDepacketizer(t *testing.T) {
	for _, c := range depCases() {
		t.Run(c.name, func(t *testing.T) {
			d := c.depacketizer()
			var got []collected
			emit := collector(&got)
			nalrtptest.RunSteps(t, c.steps, func(p *rtp.Packet) error { return d.Push(p, emit) }, func() int { return len(got) })
			before := len(got)
			d.Flush(emit)
			if n := len(got) - before; n != c.flush {
				t.Errorf("Flush emitted %d AUs, want %d", n, c.flush)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d AUs, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.PTS != w.pts || g.DTS != w.pts || g.Keyframe != w.key || g.ParamsChanged != w.changed {
					t.Errorf("AU %d: pts %d dts %d key %v changed %v, want pts=dts %d key %v changed %v",
						i, g.PTS, g.DTS, g.Keyframe, g.ParamsChanged, w.pts, w.key, w.changed)
				}
				if fmt.Sprintf("%x", g.NALUs) != fmt.Sprintf("%x", w.nalus) {
					t.Errorf("AU %d: NALUs %x, want %x", i, g.NALUs, w.nalus)
				}
				if !bytes.Equal(g.SPS, w.sps) {
					t.Errorf("AU %d: SPS %x, want %x", i, g.SPS, w.sps)
				}
			}
			if st := d.Stats(); st != c.stats {
				t.Errorf("stats %+v, want %+v", st, c.stats)
			}
		})
	}
}

// Reset (reconnect) forgets the partial AU and the sequence state, keeps the
// parameter sets, and waits for a keyframe; Flush drops an unfinished FU-A.
func TestResetAndFlush(t *testing.T) {
	d := NewDepacketizer(nil, nil)
	var got []collected
	emit := collector(&got)
	push := func(s step) {
		t.Helper()
		if err := d.Push(s.Packet(), emit); err != nil {
			t.Fatalf("seq %d: %v", s.Seq, err)
		}
	}
	push(step{Seq: 10, TS: 1000, P: stap(spsA, ppsA)})
	push(step{Seq: 11, TS: 1000, M: true, P: idr})
	push(step{Seq: 12, TS: 4600, P: fu(indIDR, 0x81, 0x9a)}) // P-frame, unfinished
	d.Reset()
	push(step{Seq: 500, TS: 8200, M: true, P: p1})   // no loss counted, but no keyframe yet
	push(step{Seq: 501, TS: 11800, M: true, P: idr}) // params survived the reset
	push(step{Seq: 502, TS: 15400, P: fu(indIDR, 0x85, 0x88)})
	d.Flush(emit)
	if len(got) != 2 || got[1].PTS != 11800 || !got[1].Keyframe || !bytes.Equal(got[1].SPS, spsA) {
		t.Fatalf("got %d AUs: %+v", len(got), got)
	}
	want := Stats{Packets: 6, AccessUnits: 2, Keyframes: 2, SkippedAUs: 1, DroppedAUs: 1}
	if st := d.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

// A change of parameter sets (R18) brings a newly parsed Params; until
// then every access unit shares the one parsed before.
func TestParamsFollowChange(t *testing.T) {
	var c depCase
	for _, dc := range depCases() {
		if dc.name == "R18 SPS change sets ParamsChanged" {
			c = dc
		}
	}
	d := c.depacketizer()
	var got []collected
	for _, s := range c.steps {
		if err := d.Push(s.Packet(), collector(&got)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d AUs", len(got))
	}
	if got[0].Params == nil || got[1].Params != got[0].Params {
		t.Errorf("AUs before the change: Params %p, %p, want one shared pointer", got[0].Params, got[1].Params)
	}
	if got[2].Params == got[0].Params {
		t.Fatal("Params not rebuilt after the SPS changed")
	}
	for i, w := range [][2][]byte{{spsA, ppsA}, {spsB, ppsB}} {
		au := got[2*i]
		want, err := ParseParams(w[0], w[1])
		if err != nil || au.Params == nil || !reflect.DeepEqual(*au.Params, want) {
			t.Errorf("AU %d: Params %+v, want %+v (%v)", 2*i, au.Params, want, err)
		}
	}
}

// A stream that marks the end of each picture and stops before the mark of
// the last one was cut mid-picture (two of four slices arrived): Flush drops
// that picture instead of handing out a damaged one. A stream without
// marker bits keeps its last picture (the FLIR case in the table).
func TestFlushDropsPictureCutBeforeItsMarker(t *testing.T) {
	d := NewDepacketizer(nil, nil)
	var got []collected
	emit := collector(&got)
	for _, s := range []step{
		{Seq: 10, TS: 1000, P: stap(spsA, ppsA)},
		{Seq: 11, TS: 1000, M: true, P: idr},
		{Seq: 12, TS: 4600, P: p1}, // first slice of the next picture
		{Seq: 13, TS: 4600, P: p1}, // second; the rest never come
	} {
		if err := d.Push(s.Packet(), emit); err != nil {
			t.Fatalf("seq %d: %v", s.Seq, err)
		}
	}
	d.Flush(emit)
	if len(got) != 1 || got[0].PTS != 1000 {
		t.Fatalf("got %d AUs: %+v", len(got), got)
	}
	if st := d.Stats(); st.DroppedAUs != 1 || st.AccessUnits != 1 {
		t.Errorf("stats %+v", st)
	}
}
