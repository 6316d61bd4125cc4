package fmp4

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	mp4 "github.com/abema/go-mp4"
	"github.com/nvr-project/nvr/internal/h265ps"
	"github.com/nvr-project/nvr/internal/testcam"
)

// ffprobeStream returns ffprobe's view of the first video stream as
// key=value lines.
func ffprobeStream(t testing.TB, path string) map[string]string {
	t.Helper()
	fp := requireTool(t, "ffprobe")
	out, err := exec.Command(fp, "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,codec_tag_string,width,height,profile,level", "-of", "default=nw=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// An H.265 segment is hvc1 with hvcC, which ffmpeg decodes whole, go-mp4
// (an independent box parser) reads back field by field, and Scan returns
// the parameter sets of.
func TestWriterH265(t *testing.T) {
	c := loadClip(t, testcam.ClipHEVC270)
	b, st := writeClip(t, c, WriterOptions{})
	if st.Frames != 100 || st.Keyframes != 4 {
		t.Fatalf("stats %+v", st)
	}

	boxes, err := mp4.ExtractBoxWithPayload(bytes.NewReader(b), nil, mp4.BoxPath{
		mp4.BoxTypeMoov(), mp4.BoxTypeTrak(), mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(),
		mp4.BoxTypeStsd(), mp4.BoxTypeHvc1(), mp4.BoxTypeHvcC()})
	if err != nil || len(boxes) != 1 {
		t.Fatalf("hvc1/hvcC: %d boxes, %v", len(boxes), err)
	}
	h := boxes[0].Payload.(*mp4.HvcC)
	sps, err := h265ps.ParseSPS(c.SPS)
	if err != nil {
		t.Fatal(err)
	}
	if h.ConfigurationVersion != 1 || h.GeneralProfileIdc != 1 || h.GeneralTierFlag || h.GeneralLevelIdc != 63 ||
		!h.GeneralProfileCompatibility[1] || !h.GeneralProfileCompatibility[2] ||
		!bytes.Equal(h.GeneralConstraintIndicator[:], sps.ConstraintFlags()) ||
		h.ChromaFormatIdc != 1 || h.BitDepthLumaMinus8 != 0 || h.BitDepthChromaMinus8 != 0 || h.LengthSizeMinusOne != 3 {
		t.Errorf("hvcC %+v", h)
	}
	if len(h.NaluArrays) != 3 {
		t.Fatalf("%d NAL unit arrays, want 3", len(h.NaluArrays))
	}
	for i, want := range [][]byte{c.VPS, c.SPS, c.PPS} {
		a := h.NaluArrays[i]
		if !a.Completeness || int(a.NaluType) != h265ps.Type(want) || len(a.Nalus) != 1 || !bytes.Equal(a.Nalus[0].NALUnit, want) {
			t.Errorf("array %d: complete %v type %d %d units", i, a.Completeness, a.NaluType, len(a.Nalus))
		}
	}

	p := writeFile(t, t.TempDir(), "seg.mp4", b)
	got := ffprobeStream(t, p)
	want := map[string]string{"codec_name": "hevc", "codec_tag_string": "hvc1", "width": "480", "height": "270", "profile": "Main", "level": "63"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ffprobe %s=%q, want %q", k, got[k], v)
		}
	}
	if n := ffprobeFrames(t, p); n != 100 {
		t.Errorf("ffprobe decoded %d frames, want 100", n)
	}

	info, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Params.H265() || !bytes.Equal(info.Params.VPS, c.VPS) || !bytes.Equal(info.Params.SPS, c.SPS) ||
		!bytes.Equal(info.Params.PPS, c.PPS) || info.Params.Width != 480 || info.Params.Height != 270 {
		t.Errorf("Scan params %+v", info.Params)
	}
	if len(info.Samples) != 100 || info.Keyframes != 4 || info.ValidSize != int64(len(b)) {
		t.Errorf("Scan: %d samples, %d keyframes, valid %d of %d", len(info.Samples), info.Keyframes, info.ValidSize, len(b))
	}
	// A torn H.265 segment recovers to its last complete fragment, like an
	// H.264 one.
	torn := b[:len(b)-100]
	ti, err := Scan(bytes.NewReader(torn), int64(len(torn)))
	if err != nil || !ti.Params.H265() || ti.ValidSize >= int64(len(torn)) || len(ti.Samples) == 0 || len(ti.Samples) >= 100 {
		t.Fatalf("torn segment: %+v, %v", ti, err)
	}
}

// NewWriter refuses H.265 parameters it could not describe.
func TestWriterH265BadParams(t *testing.T) {
	c := loadClip(t, testcam.ClipHEVC270)
	cases := map[string]TrackParams{
		"SPS that does not parse":     {VPS: c.VPS, SPS: c.SPS[:10], PPS: c.PPS},
		"VPS of the wrong type":       {VPS: c.PPS, SPS: c.SPS, PPS: c.PPS},
		"PPS missing":                 {VPS: c.VPS, SPS: c.SPS},
		"H.264 SPS in an H.265 track": {VPS: c.VPS, SPS: []byte{0x67, 0x42, 0xc0, 0x1e}, PPS: c.PPS},
	}
	for name, p := range cases {
		if _, err := NewWriter(&bytes.Buffer{}, p, WriterOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The sample index keeps an H.265 segment's VPS, so an export planned from
// the index (no file read) still describes the track as hvc1.
func TestIndexH265(t *testing.T) {
	c := loadClip(t, testcam.ClipHEVC270)
	b, _ := writeClip(t, c, WriterOptions{})
	info, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := info.MarshalIndex()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Params.H265() || !bytes.Equal(got.Params.VPS, c.VPS) || !bytes.Equal(got.Params.SPS, c.SPS) ||
		!bytes.Equal(got.Params.PPS, c.PPS) || len(got.Samples) != len(info.Samples) {
		t.Fatalf("index round trip: params %+v, %d samples", got.Params, len(got.Samples))
	}
	// An H.264 segment's index is unchanged: no VPS, no flag.
	h := loadClip(t, testcam.ClipBase240)
	hb, _ := writeClip(t, h, WriterOptions{})
	hi, err := Scan(bytes.NewReader(hb), int64(len(hb)))
	if err != nil {
		t.Fatal(err)
	}
	hidx, _ := hi.MarshalIndex()
	if hidx[1]&indexHasVPS != 0 {
		t.Error("H.264 index has the VPS flag")
	}
}
