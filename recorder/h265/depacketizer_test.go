package h265

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

// Parameter sets written by libx265 (A: 320x180 at 30 fps, B: 256x144 at
// 25 fps, both without B-frames, so DTS equals PTS; R: the hevc270 clip's,
// with B-frames), and small stand-ins for
// other units: slices are opaque to the depacketizer, so short fake ones do.
// A slice's third byte has first_slice_segment_in_pic_flag as its top bit.
var (
	vpsA  = mustHex("40010c01ffff01600000030090000003000003003c928090")
	spsA  = mustHex("42010101600000030090000003000003003ca00a080b9f7964a924caf0168080000003008000000f04")
	ppsA  = mustHex("4401c172b46240")
	spsR  = mustHex("42010101600000030090000003000003003fa00f080447d6595964932bc05a020000030002000003003210")
	spsB  = mustHex("42010101600000030090000003000003003ca008080916592a4932bc05a02000000300200000030321")
	idr   = []byte{19 << 1, 1, 0xaf, 0x21, 0xa0} // IDR_W_RADL, first slice
	idr2  = []byte{19 << 1, 1, 0x2f, 0x21, 0xa1} // its second slice
	cra   = []byte{21 << 1, 1, 0xaf, 0x08, 0x01} // CRA
	rasl  = []byte{8 << 1, 1, 0xc1, 0x02}        // RASL_N
	trail = []byte{1 << 1, 1, 0xd0, 0x02, 0x03}  // TRAIL_R: a P-frame
	sei   = []byte{39 << 1, 1, 0x05, 0x01, 0xff} // prefix SEI
	aud   = []byte{35 << 1, 1, 0x50}             // AUD
	fill  = []byte{38 << 1, 1, 0xff, 0xff, 0x80} // filler data
	paci  = []byte{50 << 1, 1, 0x00, 0x00, 0x26} // PACI
	unspc = []byte{51 << 1, 1, 0x12}             // unspecified type 51
)

// ap builds an aggregation packet without DONL (RFC 7798 §4.4.2).
func ap(nalus ...[]byte) []byte {
	b := []byte{48 << 1, 1}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// fu builds an FU payload (RFC 7798 §4.4.3) of a unit of type typ; se holds
// the S (0x80) and E (0x40) bits.
func fu(se, typ byte, data ...byte) []byte {
	return append([]byte{49 << 1, 1, se | typ}, data...)
}

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
	name          string
	sdp           bool // start with vpsA/spsA/ppsA from the SDP
	vps, sps, pps []byte
	steps         []step
	flush         int // access units Flush must emit
	want          []wantAU
	stats         Stats
}

func (c depCase) depacketizer() *Depacketizer {
	if c.sdp {
		return NewDepacketizer(vpsA, spsA, ppsA)
	}
	return NewDepacketizer(c.vps, c.sps, c.pps)
}

func nl(n ...[]byte) [][]byte { return n }

func depCases() []depCase {
	// Three parameter sets and 22 slices fill the access unit; the 23rd
	// slice is one too many.
	tooMany := []step{{Seq: 1, TS: 100, P: ap(vpsA, spsA, ppsA)}}
	for i := 0; i < MaxNALUsPerAccessUnit-2; i++ {
		tooMany = append(tooMany, step{Seq: uint16(2 + i), TS: 100, P: idr2})
	}
	tooMany[len(tooMany)-1].Err = ErrTooLarge
	tooMany = append(tooMany, step{Seq: uint16(len(tooMany) + 1), TS: 3100, M: true, P: ap(vpsA, spsA, ppsA, idr), Emits: 1})
	return []depCase{
		{name: "single NAL IDR with SDP params", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "AP with VPS, SPS, PPS in-band then IDR",
			steps: []step{{Seq: 1, TS: 1000, P: ap(vpsA, spsA, ppsA)}, {Seq: 2, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "in-band params override SDP", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: ap(vpsA, spsB, ppsA)}, {Seq: 2, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(vpsA, spsB, ppsA, idr), spsB, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "FU reassembly", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(0x80, 19, 0xaf, 0x21)},
				{Seq: 2, TS: 1000, P: fu(0x00, 19, 0xa0)},
				{Seq: 3, TS: 1000, M: true, P: fu(0x40, 19, 0x01), Emits: 1}},
			want:  []wantAU{{1000, true, nl([]byte{0x26, 1, 0xaf, 0x21, 0xa0, 0x01}), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1}},
		{name: "R6 FU middle fragment first is dropped until the next start", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(0x00, 19, 0xa0), Err: ErrPacketLoss},
				{Seq: 2, TS: 1000, M: true, P: fu(0x40, 19, 0x01)},
				{Seq: 3, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1}},
		{name: "R6 FU end fragment first", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: fu(0x40, 19, 0x01), Err: ErrPacketLoss},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1}},
		{name: "R7 sequence gap inside an FU drops the AU and waits for a keyframe", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 4000, P: fu(0x80, 1, 0xd0)},
				{Seq: 4, TS: 4000, M: true, P: fu(0x40, 1, 0x03), Err: ErrPacketLoss},
				{Seq: 5, TS: 7000, M: true, P: trail},
				{Seq: 6, TS: 10000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {10000, true, nl(idr), spsA, false}},
			stats: Stats{Packets: 5, Lost: 1, AccessUnits: 2, Keyframes: 2, DroppedAUs: 1, SkippedAUs: 1}},
		{name: "R7 loss then an AU that visibly starts (VPS first) is kept", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 5, TS: 7000, P: ap(vpsA, spsA, ppsA), Err: ErrPacketLoss},
				{Seq: 6, TS: 7000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {7000, true, nl(vpsA, spsA, ppsA, idr), spsA, false}},
			stats: Stats{Packets: 3, Lost: 3, AccessUnits: 2, Keyframes: 2}},
		{name: "R8 FU with start and end bits (CostarHD)", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: fu(0xc0, 19, 0xaf, 0x21), Emits: 1}},
			want:  []wantAU{{1000, true, nl([]byte{0x26, 1, 0xaf, 0x21}), spsA, true}},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "R8 FU type changes mid-unit: the first fragment's wins", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(0x80, 19, 0xaf)},
				{Seq: 2, TS: 1000, M: true, P: fu(0x40, 1, 0x21), Emits: 1}},
			want:  []wantAU{{1000, true, nl([]byte{0x26, 1, 0xaf, 0x21}), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "R8 empty FU fragment", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(0x80, 19, 0xaf, 0x21)},
				{Seq: 2, TS: 1000, P: fu(0x00, 19)},
				{Seq: 3, TS: 1000, M: true, P: fu(0x40, 19, 0x05), Emits: 1}},
			want:  []wantAU{{1000, true, nl([]byte{0x26, 1, 0xaf, 0x21, 0x05}), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1}},
		{name: "R9 FU that never ends is dropped at the next timestamp", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: fu(0x80, 19, 0xaf)},
				{Seq: 2, TS: 4000, M: true, P: idr, Err: ErrPacketLoss, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1}},
		{name: "R9 more than 25 NAL units", steps: tooMany,
			want:  []wantAU{{3100, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 25, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1}},
		{name: "R9 marker bit inside an FU", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: fu(0x80, 19, 0xaf), Err: ErrMalformed},
				{Seq: 2, TS: 1000, M: true, P: fu(0x40, 19, 0x01)},
				{Seq: 3, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1}},
		{name: "R10 AP length past the end", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x60, 1, 0, 9, 0x26, 1, 0xaf}, Err: ErrMalformed},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1, Rejected: 1}},
		{name: "R10 AP without units", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x60, 1}, Err: ErrMalformed},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1, Rejected: 1}},
		{name: "FU without FU header", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x62, 1}, Err: ErrMalformed},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1, Rejected: 1}},
		{name: "payload shorter than the 2-byte header", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: []byte{0x26}, Err: ErrMalformed},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1, Rejected: 1}},
		{name: "PACI rejected", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: paci, Err: ErrMalformed},
				{Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, DroppedAUs: 1, Rejected: 1}},
		{name: "unspecified NAL type ignored without harming the AU", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, P: idr},
				{Seq: 2, TS: 1000, P: unspc, Err: ErrMalformed},
				{Seq: 3, TS: 1000, M: true, P: idr2, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr, idr2), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1, Rejected: 1}},
		{name: "no marker bit: a new timestamp ends the AU (FLIR M400)", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: idr}, {Seq: 2, TS: 4000, P: trail, Emits: 1}},
			flush: 1,
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {4000, false, nl(trail), spsA, false}},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "marker bit on VPS, SPS and PPS does not split the AU (H264DVR)",
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: vpsA},
				{Seq: 2, TS: 1000, M: true, P: spsA},
				{Seq: 3, TS: 1000, M: true, P: ppsA},
				{Seq: 4, TS: 1000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 4, AccessUnits: 1, Keyframes: 1}},
		{name: "Annex B start codes inside a single NAL payload",
			steps: []step{{Seq: 1, TS: 1000, M: true, P: cat([]byte{0, 0, 0, 1}, vpsA, []byte{0, 0, 1}, spsA, []byte{0, 0, 1}, ppsA, []byte{0, 0, 1}, idr), Emits: 1}},
			want:  []wantAU{{1000, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
		{name: "filler data is dropped", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, P: ap(aud, idr)}, {Seq: 2, TS: 1000, M: true, P: fill, Emits: 1}},
			want:  []wantAU{{1000, true, nl(aud, idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1}},
		{name: "R12 keyframe without params waits for in-band ones",
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams},
				{Seq: 2, TS: 4000, M: true, P: trail},
				{Seq: 3, TS: 7000, P: ap(vpsA, spsA, ppsA)},
				{Seq: 4, TS: 7000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{7000, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 4, AccessUnits: 1, Keyframes: 1, SkippedAUs: 2}},
		{name: "R12 broken sprop is ignored and in-band params are used",
			vps: []byte{0x40, 0x01}, sps: []byte{0x42, 0x01, 0xff}, pps: []byte{0x44},
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams},
				{Seq: 2, TS: 4000, P: ap(vpsA, spsA, ppsA)},
				{Seq: 3, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(vpsA, spsA, ppsA, idr), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1, SkippedAUs: 1}},
		{name: "params only in the SDP, never in-band (Axis): every keyframe is emitted", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 4000, M: true, P: trail, Emits: 1},
				{Seq: 3, TS: 7000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {4000, false, nl(trail), spsA, false}, {7000, true, nl(idr), spsA, false}},
			stats: Stats{Packets: 3, AccessUnits: 3, Keyframes: 2}},
		{name: "SDP without VPS waits for an in-band VPS", sps: spsA, pps: ppsA,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrNoParams},
				{Seq: 2, TS: 4000, P: vpsA},
				{Seq: 3, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(vpsA, idr), spsA, true}},
			stats: Stats{Packets: 3, AccessUnits: 1, Keyframes: 1, SkippedAUs: 1}},
		{name: "first AU that is not a keyframe is skipped", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: trail}, {Seq: 2, TS: 4000, M: true, P: idr, Emits: 1}},
			want:  []wantAU{{4000, true, nl(idr), spsA, true}},
			stats: Stats{Packets: 2, AccessUnits: 1, Keyframes: 1, SkippedAUs: 1}},
		// The SPS of a stream with leading pictures signals reordering
		// (the clip's: sps_max_num_reorder_pics 2).
		{name: "RASL pictures of the CRA output starts at are dropped, later ones kept",
			vps: vpsA, sps: spsR, pps: ppsA,
			steps: []step{
				{Seq: 1, TS: 7000, M: true, P: cra, Emits: 1},
				{Seq: 2, TS: 1000, M: true, P: rasl},
				{Seq: 3, TS: 4000, M: true, P: rasl},
				{Seq: 4, TS: 10000, M: true, P: trail, Emits: 1},
				{Seq: 5, TS: 19000, M: true, P: cra, Emits: 1},
				{Seq: 6, TS: 13000, M: true, P: rasl, Emits: 1}},
			want: []wantAU{{7000, true, nl(cra), spsR, true}, {10000, false, nl(trail), spsR, false},
				{19000, true, nl(cra), spsR, false}, {13000, false, nl(rasl), spsR, false}},
			stats: Stats{Packets: 6, AccessUnits: 4, Keyframes: 2, SkippedAUs: 2}},
		{name: "R14 RTP timestamp wrap keeps PTS continuous", sdp: true,
			steps: []step{{Seq: 1, TS: 0xffffff00, M: true, P: idr, Emits: 1}, {Seq: 2, TS: 0x00000e00, M: true, P: trail, Emits: 1}},
			want:  []wantAU{{0xffffff00, true, nl(idr), spsA, true}, {0x100000e00, false, nl(trail), spsA, false}},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "R16 sequence wrap 65535 to 0 is no loss", sdp: true,
			steps: []step{{Seq: 65535, TS: 1000, M: true, P: idr, Emits: 1}, {Seq: 0, TS: 4000, M: true, P: trail, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {4000, false, nl(trail), spsA, false}},
			stats: Stats{Packets: 2, AccessUnits: 2, Keyframes: 1}},
		{name: "R17 SSRC change: no false loss, output resumes at a keyframe", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 900, TS: 4000, M: true, P: trail, SSRC: 2},
				{Seq: 901, TS: 7000, M: true, P: idr, SSRC: 2, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {7000, true, nl(idr), spsA, false}},
			stats: Stats{Packets: 3, AccessUnits: 2, Keyframes: 2, SkippedAUs: 1}},
		{name: "R18 SPS change sets ParamsChanged", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 2, TS: 4000, M: true, P: trail, Emits: 1},
				{Seq: 3, TS: 7000, P: ap(vpsA, spsB, ppsA)},
				{Seq: 4, TS: 7000, M: true, P: idr, Emits: 1}},
			want: []wantAU{{1000, true, nl(idr), spsA, true}, {4000, false, nl(trail), spsA, false},
				{7000, true, nl(vpsA, spsB, ppsA, idr), spsB, true}},
			stats: Stats{Packets: 4, AccessUnits: 3, Keyframes: 2}},
		{name: "duplicate packet is discarded", sdp: true,
			steps: []step{
				{Seq: 1, TS: 1000, M: true, P: idr, Emits: 1},
				{Seq: 1, TS: 1000, M: true, P: idr, Err: ErrPacketLoss},
				{Seq: 2, TS: 4000, M: true, P: trail, Emits: 1}},
			want:  []wantAU{{1000, true, nl(idr), spsA, true}, {4000, false, nl(trail), spsA, false}},
			stats: Stats{Packets: 3, AccessUnits: 2, Keyframes: 1, Late: 1}},
		{name: "prefix SEI before the slice stays in the AU", sdp: true,
			steps: []step{{Seq: 1, TS: 1000, M: true, P: ap(sei, idr, idr2), Emits: 1}},
			want:  []wantAU{{1000, true, nl(sei, idr, idr2), spsA, true}},
			stats: Stats{Packets: 1, AccessUnits: 1, Keyframes: 1}},
	}
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
				if g.PTS != w.pts || g.Keyframe != w.key || g.Changed != w.changed {
					t.Errorf("AU %d: pts %d key %v changed %v, want %d %v %v", i, g.PTS, g.Keyframe, g.Changed, w.pts, w.key, w.changed)
				}
				if fmt.Sprintf("%x", g.NALUs) != fmt.Sprintf("%x", w.nalus) {
					t.Errorf("AU %d: NALUs %x, want %x", i, g.NALUs, w.nalus)
				}
				if g.Params == nil || !bytes.Equal(g.Params.SPS, w.sps) {
					t.Errorf("AU %d: params %+v, want SPS %x", i, g.Params, w.sps)
				}
			}
			if st := d.Stats(); st != c.stats {
				t.Errorf("stats %+v, want %+v", st, c.stats)
			}
		})
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
	if len(got) != 3 || got[0].Params == nil || got[1].Params != got[0].Params || got[2].Params == got[0].Params {
		t.Fatalf("%d AUs; Params %p %p %p: want one pointer until the change, a new one after", len(got), got[0].Params, got[1].Params, got[2].Params)
	}
	for i, sps := range [][]byte{spsA, spsB} {
		want, err := ParseParams(vpsA, sps, ppsA)
		if err != nil || !reflect.DeepEqual(*got[2*i].Params, want) {
			t.Errorf("AU %d: Params %+v, want %+v (%v)", 2*i, got[2*i].Params, want, err)
		}
	}
	if p := got[2].Params; p.Width != 256 || p.Height != 144 || p.FPS != 25 {
		t.Errorf("after the change: %dx%d at %v fps, want 256x144 at 25", p.Width, p.Height, p.FPS)
	}
}

// Reset (reconnect) forgets the partial AU and the sequence state, keeps the
// parameter sets, and waits for a keyframe; Flush drops an unfinished FU,
// and a picture cut before its marker in a stream that sets markers.
func TestResetAndFlush(t *testing.T) {
	d := NewDepacketizer(nil, nil, nil)
	var got []collected
	emit := collector(&got)
	push := func(s step) {
		t.Helper()
		if err := d.Push(s.Packet(), emit); err != nil {
			t.Fatalf("seq %d: %v", s.Seq, err)
		}
	}
	push(step{Seq: 10, TS: 1000, P: ap(vpsA, spsA, ppsA)})
	push(step{Seq: 11, TS: 1000, M: true, P: idr})
	push(step{Seq: 12, TS: 4000, P: fu(0x80, 1, 0xd0)}) // P-frame, unfinished
	d.Reset()
	push(step{Seq: 500, TS: 7000, M: true, P: trail}) // no loss counted, but no keyframe yet
	push(step{Seq: 501, TS: 10000, M: true, P: idr})  // params survived the reset
	push(step{Seq: 502, TS: 13000, P: fu(0x80, 19, 0xaf)})
	d.Flush(emit)
	push(step{Seq: 503, TS: 16000, M: true, P: idr})
	push(step{Seq: 504, TS: 19000, P: trail}) // first slice; its marker never comes
	d.Flush(emit)
	if len(got) != 3 || got[1].PTS != 10000 || !got[1].Keyframe || got[2].PTS != 16000 {
		t.Fatalf("got %d AUs: %+v", len(got), got)
	}
	want := Stats{Packets: 8, AccessUnits: 3, Keyframes: 3, SkippedAUs: 1, DroppedAUs: 2}
	if st := d.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}
