package h264

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"testing"
)

// Parameter sets written by ffmpeg/libx264 for these tests (Annex B split,
// start codes removed); the name says what each encodes.
var (
	sps1080High40  = mustHex("67640028acd940780227e5c044000003000400000300f03c60c658")
	pps1080High40  = mustHex("68ebe3cb22c0")
	sps576Main30   = mustHex("674d401eeca05809360a2000007d20001d4c01e2c5b2c0")           // 30000/1001 fps, SAR 40:33
	sps480Base22   = mustHex("6742c016d900a03dbff0007000510000030001000003001e0f162e48") // 15 fps, SAR 7:5 (extended)
	sps144Level1b  = mustHex("6742d00bd902c4ec0440000003004000000783c48992")
	ppsFromFFmpeg  = mustHex("68cb83cb20")
	spsHigh360Clip = mustHex("6764001eacd940a02ff97011000003000100000300320f162d96")
)

// bitWriter builds hand-made SPS units for cases no encoder writes.
type bitWriter struct {
	b []byte
	n int // bits used
}

func (w *bitWriter) bit(v uint) {
	if w.n%8 == 0 {
		w.b = append(w.b, 0)
	}
	if v != 0 {
		w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
	}
	w.n++
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(uint(v>>i) & 1)
	}
}

// ue writes an Exp-Golomb code (ITU-T H.264 9.1).
func (w *bitWriter) ue(v uint64) {
	v++
	l := 0
	for x := v; x > 1; x >>= 1 {
		l++
	}
	w.bits(0, l)
	w.bits(v, l+1)
}

// handSPS writes a Baseline SPS with the given size in macroblocks and an
// optional crop (in 2-pixel units) so limits can be tested.
func handSPS(widthMbs, heightMbs uint64, crop []uint64) []byte {
	w := &bitWriter{}
	w.bits(0x67, 8)
	w.bits(66, 8) // profile_idc
	w.bits(0, 8)  // constraint flags
	w.bits(30, 8) // level_idc
	w.ue(0)       // seq_parameter_set_id
	w.ue(0)       // log2_max_frame_num_minus4
	w.ue(2)       // pic_order_cnt_type
	w.ue(1)       // max_num_ref_frames
	w.bit(0)      // gaps_in_frame_num_value_allowed_flag
	w.ue(widthMbs - 1)
	w.ue(heightMbs - 1)
	w.bit(1) // frame_mbs_only_flag
	w.bit(1) // direct_8x8_inference_flag
	if crop != nil {
		w.bit(1)
		for _, c := range crop {
			w.ue(c)
		}
	} else {
		w.bit(0)
	}
	w.bit(0) // vui_parameters_present_flag
	w.bit(1) // rbsp_stop_one_bit
	return w.b
}

func TestParseParams(t *testing.T) {
	cases := []struct {
		name     string
		sps, pps []byte
		want     Params
	}{
		{"clip base240", spsA, ppsA, Params{Width: 320, Height: 240, ProfileIDC: 66, LevelIDC: 13,
			Profile: "Constrained Baseline", Level: "1.3", Codec: "avc1.42c00d", FPS: 25, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
		{"clip main720", spsB, ppsB, Params{Width: 1280, Height: 720, ProfileIDC: 77, LevelIDC: 31,
			Profile: "Main", Level: "3.1", Codec: "avc1.4d401f", FPS: 25, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
		{"clip high360", spsHigh360Clip, ppsA, Params{Width: 640, Height: 360, ProfileIDC: 100, LevelIDC: 30,
			Profile: "High", Level: "3.0", Codec: "avc1.64001e", FPS: 25, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
		{"1080p cropped from 1088", sps1080High40, pps1080High40, Params{Width: 1920, Height: 1080, ProfileIDC: 100, LevelIDC: 40,
			Profile: "High", Level: "4.0", Codec: "avc1.640028", FPS: 30, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
		{"NTSC rate and SAR 40:33", sps576Main30, ppsFromFFmpeg, Params{Width: 704, Height: 576, ProfileIDC: 77, LevelIDC: 30,
			Profile: "Main", Level: "3.0", Codec: "avc1.4d401e", FPS: 30000.0 / 1001, SARWidth: 40, SARHeight: 33, SARSignalled: true}},
		{"extended SAR 7:5", sps480Base22, ppsFromFFmpeg, Params{Width: 640, Height: 480, ProfileIDC: 66, LevelIDC: 22,
			Profile: "Constrained Baseline", Level: "2.2", Codec: "avc1.42c016", FPS: 15, SARWidth: 7, SARHeight: 5, SARSignalled: true}},
		{"level 1b", sps144Level1b, ppsFromFFmpeg, Params{Width: 176, Height: 144, ProfileIDC: 66, LevelIDC: 11,
			Profile: "Constrained Baseline", Level: "1b", Codec: "avc1.42d00b", FPS: 15, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
		{"no VUI", handSPS(20, 15, nil), ppsA, Params{Width: 320, Height: 240, ProfileIDC: 66, LevelIDC: 30,
			Profile: "Baseline", Level: "3.0", Codec: "avc1.42001e", SARWidth: 1, SARHeight: 1}},
		// QUIRKS: Reolink's sprop SPS carries a stray zero byte after the
		// RBSP stop bit (retina #102); it must parse like the clean one.
		{"stray trailing byte after SPS (Reolink)", cat(spsA, []byte{0x00}), ppsA, Params{Width: 320, Height: 240, ProfileIDC: 66, LevelIDC: 13,
			Profile: "Constrained Baseline", Level: "1.3", Codec: "avc1.42c00d", FPS: 25, SARWidth: 1, SARHeight: 1, SARSignalled: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseParams(c.sps, c.pps)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.SPS, c.sps) || !bytes.Equal(got.PPS, c.pps) {
				t.Error("SPS/PPS not passed through")
			}
			if math.Abs(got.FPS-c.want.FPS) > 1e-9 {
				t.Errorf("FPS %v, want %v", got.FPS, c.want.FPS)
			}
			got.SPS, got.PPS, got.FPS = nil, nil, c.want.FPS
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseParamsErrors(t *testing.T) {
	cases := []struct {
		name     string
		sps, pps []byte
		want     error
	}{
		{"no SPS", nil, ppsA, ErrNoParams},
		{"no PPS (Hikvision sprop)", spsA, nil, ErrNoParams},
		{"PPS of wrong type", spsA, []byte{0x67, 0x01}, ErrMalformed},
		{"SPS of wrong type", ppsA, ppsA, ErrMalformed},
		{"truncated SPS", spsA[:5], ppsA, ErrMalformed},
		{"header byte only", []byte{0x67}, ppsA, ErrMalformed},
		{"hostile width", handSPS(1<<20, 15, nil), ppsA, ErrMalformed},
		{"width past 32 bits", handSPS(1<<31, 15, nil), ppsA, ErrMalformed},
		{"crop wider than picture", handSPS(20, 15, []uint64{200, 0, 0, 0}), ppsA, ErrMalformed},
		{"crop past 32 bits", handSPS(20, 15, []uint64{0, 0, 1 << 31, 1 << 31}), ppsA, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseParams(c.sps, c.pps)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

type spropCase struct {
	name     string
	value    string
	sps, pps []byte
}

func b64(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func b64raw(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func spropCases() []spropCase {
	return []spropCase{
		{"standard", b64(spsA) + "," + b64(ppsA), spsA, ppsA},
		{"unpadded", b64raw(spsA) + "," + b64raw(ppsA), spsA, ppsA},
		{"spaces around entries", " " + b64(spsA) + " , " + b64(ppsA) + " ", spsA, ppsA},
		{"PPS first", b64(ppsA) + "," + b64(spsA), spsA, ppsA},
		{"Annex B start codes inside (GW Security)",
			b64(cat([]byte{0, 0, 0, 1}, spsA, []byte{0, 0, 0, 1}, ppsA)), spsA, ppsA},
		{"trailing Annex B start codes in each entry (GW Security GW4089IP)",
			b64(cat(spsA, []byte{0, 0, 0, 1})) + "," + b64(cat(ppsA, []byte{0, 0, 0, 1})), spsA, ppsA},
		{"Annex B in each entry", b64(cat([]byte{0, 0, 0, 1}, spsA)) + "," + b64(cat([]byte{0, 0, 1}, ppsA)), spsA, ppsA},
		{"garbage entries ignored (VStarcam)", "!!!," + b64(spsA) + ",AAAA," + b64(ppsA) + ",@@", spsA, ppsA},
		{"stray trailing byte after SPS (Reolink)", b64(cat(spsA, []byte{0x00})) + "," + b64(ppsA), cat(spsA, []byte{0x00}), ppsA},
		{"SPS only (Hikvision)", b64(spsA), spsA, nil},
		{"empty", "", nil, nil},
		{"not base64 (R12)", "not base64 at all", nil, nil},
		{"truncated SPS dropped (R12)", b64(spsA[:4]) + "," + b64(ppsA), nil, ppsA},
		{"first valid SPS wins", b64(spsA[:4]) + "," + b64(spsB) + "," + b64(spsA) + "," + b64(ppsA), spsB, ppsA},
		{"URL-safe alphabet", base64.RawURLEncoding.EncodeToString(sps1080High40) + "," + b64(pps1080High40), sps1080High40, pps1080High40},
		{"commas only", ",,,", nil, nil},
	}
}

func TestParseSprop(t *testing.T) {
	for _, c := range spropCases() {
		t.Run(c.name, func(t *testing.T) {
			sps, pps := ParseSprop(c.value)
			if !bytes.Equal(sps, c.sps) || (sps == nil) != (c.sps == nil) {
				t.Errorf("SPS %x, want %x", sps, c.sps)
			}
			if !bytes.Equal(pps, c.pps) || (pps == nil) != (c.pps == nil) {
				t.Errorf("PPS %x, want %x", pps, c.pps)
			}
		})
	}
}

func TestParseSpropTooLong(t *testing.T) {
	long := b64(spsA) + "," + b64(ppsA) + "," + string(bytes.Repeat([]byte("A"), maxSpropLen))
	if sps, pps := ParseSprop(long); sps != nil || pps != nil {
		t.Fatalf("oversized value gave %x %x, want nothing", sps, pps)
	}
}

// Hikvision DS-2CD2032-I sends a 704x480 sub stream meant for 4:3 with no
// aspect ratio in the SPS: DisplaySAR fills in 10:11. A signalled ratio
// always wins, and other sizes stay square.
func TestDisplaySAR(t *testing.T) {
	cases := []struct {
		name string
		sps  []byte
		w, h int
	}{
		{"704x480 unsignalled (Hikvision DS-2CD2032-I)", handSPS(44, 30, nil), 10, 11},
		{"704x576 unsignalled", handSPS(44, 36, nil), 12, 11},
		{"320x240 unsignalled", handSPS(20, 15, nil), 1, 1},
		{"704x576 signalled 40:33", sps576Main30, 40, 33},
		{"640x480 signalled 7:5", sps480Base22, 7, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseParams(c.sps, ppsA)
			if err != nil {
				t.Fatal(err)
			}
			if w, h := p.DisplaySAR(); w != c.w || h != c.h {
				t.Errorf("DisplaySAR %d:%d, want %d:%d", w, h, c.w, c.h)
			}
		})
	}
}
