package fmp4

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nvr-project/nvr/internal/testcam"
)

// fragmentEnds returns the end offset of the init segment and of every
// fragment of a file this package wrote.
func fragmentEnds(t testing.TB, b []byte) []int64 {
	t.Helper()
	var ends []int64
	var pos int64
	for pos < int64(len(b)) {
		h, ok := parseHeader(b[pos:])
		if !ok {
			t.Fatalf("bad box at %d", pos)
		}
		pos += h.size
		if !typeIs(h.typ, "ftyp") && !typeIs(h.typ, "moof") {
			ends = append(ends, pos) // after moov and after each mdat
		}
	}
	return ends
}

// TestScanTornEveryOffset (RELIABILITY F11): a file cut at any byte of its
// last fragment scans as the file up to the previous complete fragment.
func TestScanTornEveryOffset(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	b, _ := writeClip(t, c, WriterOptions{FragmentDuration: 45000})
	ends := fragmentEnds(t, b)
	if len(ends) < 4 {
		t.Fatalf("want several fragments, got ends %v", ends)
	}
	full, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	prev := ends[len(ends)-2]
	wantSamples := 0
	for _, s := range full.Samples {
		if s.Offset < prev {
			wantSamples++
		}
	}
	for cut := prev; cut < int64(len(b)); cut++ {
		info, err := Scan(bytes.NewReader(b[:cut]), cut)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if info.ValidSize != prev || len(info.Samples) != wantSamples || info.Fragments != len(ends)-2 {
			t.Fatalf("cut %d: valid %d (want %d), %d samples (want %d)", cut, info.ValidSize, prev, len(info.Samples), wantSamples)
		}
	}
	// Cuts inside earlier fragments fall back to the fragment before them.
	for i := 1; i < len(ends)-1; i++ {
		for _, cut := range []int64{ends[i-1] + 1, ends[i-1] + 9, (ends[i-1] + ends[i]) / 2, ends[i] - 1} {
			info, err := Scan(bytes.NewReader(b[:cut]), cut)
			if err != nil || info.ValidSize != ends[i-1] {
				t.Fatalf("cut %d in fragment %d: valid %v err %v, want %d", cut, i, info.ValidSize, err, ends[i-1])
			}
		}
	}
}

// TestScanTorn (RELIABILITY F9/F11): Scan finds the last complete
// fragment of a torn file, the bytes up to it still decode, and files
// without a complete init segment are refused. (storage cuts the file
// back to what Scan finds, storage.TestSegmentSyncsOnce.)
func TestScanTorn(t *testing.T) {
	c := loadClip(t, testcam.ClipHigh360BFrame)
	b, _ := writeClip(t, c, WriterOptions{})
	ends := fragmentEnds(t, b)
	last := ends[len(ends)-2]
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9}, 100)
	cases := []struct {
		name      string
		data      []byte
		wantSize  int64
		wantErr   error
		wantFrags int
		decode    bool
	}{
		{"complete", b, int64(len(b)), nil, len(ends) - 1, true},
		{"torn in mdat", b[:last+(int64(len(b))-last)/2], last, nil, len(ends) - 2, true},
		{"torn in moof", b[:last+20], last, nil, len(ends) - 2, true},
		{"torn in mdat header", b[:last+int64(moofFixedSize)+16*4+3], last, nil, len(ends) - 2, false},
		{"garbage appended", append(bytes.Clone(b), garbage...), int64(len(b)), nil, len(ends) - 1, true},
		{"free box appended is kept", append(bytes.Clone(b), 0, 0, 0, 8, 'f', 'r', 'e', 'e'), int64(len(b)) + 8, nil, len(ends) - 1, false},
		{"init only", b[:ends[0]], ends[0], nil, 0, false},
		{"first fragment torn", b[:ends[0]+100], ends[0], nil, 0, false},
		{"zero length", nil, 0, ErrNoInit, 0, false},
		{"only ftyp", b[:32], 0, ErrNoInit, 0, false},
		{"moov torn", b[:ends[0]-1], 0, ErrNoInit, 0, false},
		{"not mp4", garbage, 0, ErrNoInit, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, err := Scan(bytes.NewReader(tc.data), int64(len(tc.data)))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.ValidSize != tc.wantSize || info.Fragments != tc.wantFrags {
				t.Fatalf("valid %d, fragments %d; want %d, %d", info.ValidSize, info.Fragments, tc.wantSize, tc.wantFrags)
			}
			// Scanning what it keeps finds the same.
			kept := tc.data[:info.ValidSize]
			again, err := Scan(bytes.NewReader(kept), info.ValidSize)
			if err != nil || again.ValidSize != tc.wantSize || len(again.Samples) != len(info.Samples) {
				t.Fatalf("second scan: %+v %v", again, err)
			}
			if tc.decode {
				// ffprobe decodes every frame and fails on decode errors.
				p := filepath.Join(t.TempDir(), "seg.mp4")
				if err := os.WriteFile(p, kept, 0o644); err != nil {
					t.Fatal(err)
				}
				if got := ffprobeFrames(t, p); got != len(info.Samples) {
					t.Fatalf("ffprobe %d frames, scan %d samples", got, len(info.Samples))
				}
			}
		})
	}
}

// TestScanHostile feeds hand-made malformed fragments: each must end the
// valid part at the previous fragment, without panicking or allocating
// what the bytes ask for.
func TestScanHostile(t *testing.T) {
	p, samples := synthetic(8)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, p, WriterOptions{FragmentDuration: 12000})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if err := w.WriteSample(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(24000); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	ends := fragmentEnds(t, good)
	lastMoof := ends[len(ends)-2]
	patch := func(off int64, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	trun := lastMoof + 68
	cases := []struct {
		name string
		data []byte
	}{
		{"sample_count 2^32-1", patch(trun+12, 0xff, 0xff, 0xff, 0xff)},
		{"sample_count over the limit", patch(trun+12, 0, 0, 0x10, 0)},
		{"data_offset points before mdat", patch(trun+16, 0, 0, 0, 0)},
		{"data_offset past mdat", patch(trun+16, 0x7f, 0, 0, 0)},
		{"sample size huge", patch(trun+20+4, 0x7f, 0xff, 0xff, 0xff)},
		{"sample size zero", patch(trun+20+4, 0, 0, 0, 0)},
		{"moof size 64-bit huge", patch(lastMoof, 0, 0, 0, 1, 'm', 'o', 'o', 'f', 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"moof size smaller than header", patch(lastMoof, 0, 0, 0, 4)},
		{"traf child overflows", patch(lastMoof+24, 0xff, 0xff, 0, 0)},
		{"tfdt huge", patch(lastMoof+60, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"trun before tfhd", patch(lastMoof+32+4, 'x', 'x', 'x', 'x')},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Scan(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			if info.ValidSize != lastMoof {
				t.Fatalf("valid %d, want %d", info.ValidSize, lastMoof)
			}
		})
	}
	// The mdat after the last moof renamed: the last fragment is not whole.
	b := bytes.Clone(good)
	mdatAt := lastMoof + int64(moofFixedSize) + 16*int64(len(samples)-4)
	h, ok := parseHeader(b[mdatAt:])
	if !ok || !typeIs(h.typ, "mdat") {
		t.Fatalf("test setup: no mdat at %d", mdatAt)
	}
	copy(b[mdatAt+4:], "junk")
	if info, err := Scan(bytes.NewReader(b), int64(len(b))); err != nil || info.ValidSize != lastMoof {
		t.Fatalf("renamed mdat: %+v %v", info, err)
	}

	// Malformed init segments are refused, not guessed at.
	initEnd := ends[0]
	bad := []struct {
		name string
		data []byte
		want error
	}{
		{"ftyp size huge", patch(0, 0x7f, 0, 0, 0), ErrNoInit},
		{"box before moov", patch(36+4, 'm', 'd', 'a', 't'), ErrMalformed}, // ftyp is 36 bytes
		{"avcC with 2-byte lengths", patchAvcC(t, good, initEnd), ErrMalformed},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Scan(bytes.NewReader(tc.data), int64(len(tc.data))); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// patchAvcC sets lengthSizeMinusOne to 1 in the avcC of b.
func patchAvcC(t *testing.T, b []byte, initEnd int64) []byte {
	i := bytes.Index(b[:initEnd], []byte("avcC"))
	if i < 0 {
		t.Fatal("no avcC")
	}
	c := bytes.Clone(b)
	c[i+4+4] = 0xfd // reserved bits set, lengthSizeMinusOne = 1
	return c
}

// TestScanForeignFragmented reads a file fragmented by ffmpeg's mov muxer,
// which uses tfhd defaults and first-sample flags instead of per-sample
// fields: Scan must find the same frames and keyframes, and cut it back
// to whole fragments when torn.
func TestScanForeignFragmented(t *testing.T) {
	ff := requireTool(t, "ffmpeg")
	c := loadClip(t, testcam.ClipHigh360BFrame)
	dir := t.TempDir()
	var annexB []byte
	for _, f := range c.Frames {
		annexB = append(annexB, f.AnnexB...)
	}
	in := writeFile(t, dir, "in.h264", annexB)
	out := filepath.Join(dir, "frag.mp4")
	if b, err := exec.Command(ff, "-nostdin", "-v", "error", "-f", "h264", "-framerate", "25", "-i", in, "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Samples) != len(c.Frames) || info.ValidSize != int64(len(b)) || info.Params.Width != 640 || info.Params.Height != 360 {
		t.Fatalf("%d samples of %d, valid %d of %d, %dx%d", len(info.Samples), len(c.Frames), info.ValidSize, len(b), info.Params.Width, info.Params.Height)
	}
	for i, s := range info.Samples {
		if s.Keyframe != c.Frames[i].Keyframe {
			t.Fatalf("sample %d keyframe %v, frame %v", i, s.Keyframe, c.Frames[i].Keyframe)
		}
		if i > 0 && s.DTS != info.Samples[i-1].DTS+int64(info.Samples[i-1].Duration) {
			t.Fatalf("sample %d DTS %d not contiguous", i, s.DTS)
		}
	}
	if !bytes.Equal(info.Params.SPS, c.SPS) || !bytes.Equal(info.Params.PPS, c.PPS) {
		t.Error("parameter sets differ from the clip's")
	}
	torn := b[:len(b)-1000]
	tinfo, err := Scan(bytes.NewReader(torn), int64(len(torn)))
	if err != nil {
		t.Fatal(err)
	}
	if tinfo.Fragments != info.Fragments-1 || tinfo.ValidSize >= int64(len(torn)) {
		t.Fatalf("torn: %d fragments of %d, valid %d", tinfo.Fragments, info.Fragments, tinfo.ValidSize)
	}
}

// BenchmarkScan: recovery at start scans every unfinished segment; one op
// is a scan of a one-minute 25 fps segment (60 fragments, 1500 samples).
func BenchmarkScan(b *testing.B) {
	c := loadClip(b, testcam.ClipMain720)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for loop := int64(0); n < 1500; loop++ {
		for _, f := range c.Frames {
			off := loop * c.Duration
			if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS + off, PTS: f.PTS + off, Keyframe: f.Keyframe}); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if err := w.Close(0); err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(buf.Bytes())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		info, err := Scan(r, r.Size())
		if err != nil || len(info.Samples) != n {
			b.Fatalf("scan: %v, %d samples", err, len(info.Samples))
		}
	}
}
