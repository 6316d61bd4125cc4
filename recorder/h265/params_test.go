package h265

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
)

func TestParseParamsClip(t *testing.T) {
	c, err := testcam.LoadClip(testcam.ClipHEVC270)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseParams(c.VPS, c.SPS, c.PPS)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS, Width: 480, Height: 270, ProfileIDC: 1, LevelIDC: 63,
		Profile: "Main", Tier: "Main", Level: "2.1", Codec: "hvc1.1.6.L63.90", FPS: 25, Reorder: 2,
		SARWidth: 1, SARHeight: 1, SARSignalled: true}
	if p.Width != want.Width || p.Height != want.Height || p.Codec != want.Codec || p.Level != want.Level ||
		p.Profile != want.Profile || p.Tier != want.Tier || p.FPS != want.FPS || p.Reorder != want.Reorder {
		t.Errorf("params %+v\nwant    %+v", p, want)
	}
	if w, h := p.DisplaySAR(); w != 1 || h != 1 {
		t.Errorf("SAR %d:%d", w, h)
	}
}

func TestParseParamsErrors(t *testing.T) {
	cases := []struct {
		name          string
		vps, sps, pps []byte
		want          error
	}{
		{"no SPS", vpsA, nil, ppsA, ErrNoParams},
		{"no VPS", nil, spsA, ppsA, ErrNoParams},
		{"no PPS", vpsA, spsA, nil, ErrNoParams},
		{"SPS that is a PPS", vpsA, ppsA, ppsA, ErrMalformed},
		{"SPS cut short", vpsA, spsA[:20], ppsA, ErrMalformed},
		{"VPS too short", vpsA[:6], spsA, ppsA, ErrMalformed},
		{"PPS of the wrong type", vpsA, spsA, vpsA, ErrMalformed},
	}
	for _, c := range cases {
		if _, err := ParseParams(c.vps, c.sps, c.pps); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func b64(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func b64raw(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

type spropCase struct {
	name          string
	values        [3]string // sprop-vps, sprop-sps, sprop-pps
	vps, sps, pps []byte
}

func spropCases() []spropCase {
	return []spropCase{
		{"plain", [3]string{b64(vpsA), b64(spsA), b64(ppsA)}, vpsA, spsA, ppsA},
		{"unpadded", [3]string{b64raw(vpsA), b64raw(spsA), b64raw(ppsA)}, vpsA, spsA, ppsA},
		{"empty: in-band only", [3]string{"", "", ""}, nil, nil, nil},
		{"garbage entries next to real ones", [3]string{"!!!," + b64(vpsA), "AAAA," + b64(spsA), b64(ppsA) + ",zz"}, vpsA, spsA, ppsA},
		{"all three in sprop-sps", [3]string{"", b64(vpsA) + "," + b64(spsA) + "," + b64(ppsA), ""}, vpsA, spsA, ppsA},
		{"Annex B inside one entry", [3]string{"", b64(cat([]byte{0, 0, 0, 1}, vpsA, []byte{0, 0, 1}, spsA, []byte{0, 0, 1}, ppsA)), ""}, vpsA, spsA, ppsA},
		{"broken SPS dropped", [3]string{b64(vpsA), b64(spsA[:12]), b64(ppsA)}, vpsA, nil, ppsA},
		{"wrong types dropped", [3]string{b64(ppsA), b64(vpsA), b64(spsA)}, vpsA, spsA, ppsA},
		{"first valid SPS wins", [3]string{b64(vpsA), b64(spsA[:9]) + "," + b64(spsB) + "," + b64(spsA), b64(ppsA)}, vpsA, spsB, ppsA},
	}
}

func TestParseSprop(t *testing.T) {
	for _, c := range spropCases() {
		vps, sps, pps := ParseSprop(c.values[:]...)
		if string(vps) != string(c.vps) || string(sps) != string(c.sps) || string(pps) != string(c.pps) ||
			(vps == nil) != (c.vps == nil) || (sps == nil) != (c.sps == nil) || (pps == nil) != (c.pps == nil) {
			t.Errorf("%s: %x %x %x, want %x %x %x", c.name, vps, sps, pps, c.vps, c.sps, c.pps)
		}
	}
}

func TestParseSpropTooLong(t *testing.T) {
	long := b64(spsA) + "," + strings.Repeat("A", maxSpropLen)
	if _, sps, _ := ParseSprop("", long, ""); sps != nil {
		t.Fatalf("oversized value gave an SPS")
	}
}

// RFC 7798 §7.1: sprop-max-don-diff > 0 or sprop-depack-buf-nalus > 0 mean
// DONL fields in the payloads; nvr refuses the stream with a clear error
// instead of misreading two bytes of every packet.
func TestFromFmtp(t *testing.T) {
	ok := map[string]string{"sprop-vps": b64(vpsA), "sprop-sps": b64(spsA), "sprop-pps": b64(ppsA), "sprop-max-don-diff": "0"}
	vps, sps, pps, err := FromFmtp(ok)
	if err != nil || vps == nil || sps == nil || pps == nil {
		t.Fatalf("%x %x %x %v", vps, sps, pps, err)
	}
	if _, _, _, err := FromFmtp(map[string]string{}); err != nil {
		t.Errorf("empty fmtp: %v", err)
	}
	for _, k := range []string{"sprop-max-don-diff", "sprop-depack-buf-nalus"} {
		_, _, _, err := FromFmtp(map[string]string{k: "2", "sprop-sps": b64(spsA)})
		if !errors.Is(err, ErrDONL) || !strings.Contains(err.Error(), k+"=2") {
			t.Errorf("%s=2: %v, want ErrDONL naming it", k, err)
		}
	}
}
