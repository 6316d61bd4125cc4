package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	mp4 "github.com/abema/go-mp4"
	"github.com/nvr-project/nvr/internal/testcam"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// boxTree lists every box path of an MP4 as parsed by go-mp4, with the
// decoded payload of the boxes it knows.
type parsedBox struct {
	path string
	box  mp4.IBox
}

func parseTree(t *testing.T, b []byte) []parsedBox {
	t.Helper()
	var out []parsedBox
	_, err := mp4.ReadBoxStructure(bytes.NewReader(b), func(h *mp4.ReadHandle) (interface{}, error) {
		var parts []string
		for _, bt := range h.Path {
			parts = append(parts, bt.String())
		}
		pb := parsedBox{path: strings.Join(parts, "/")}
		if h.BoxInfo.IsSupportedType() && h.BoxInfo.Type != mp4.BoxTypeMdat() {
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			pb.box = box
			out = append(out, pb)
			_, err = h.Expand()
			return nil, err
		}
		out = append(out, pb)
		return nil, nil
	})
	if err != nil {
		t.Fatalf("go-mp4 parse: %v", err)
	}
	return out
}

func find(boxes []parsedBox, path string) []mp4.IBox {
	var r []mp4.IBox
	for _, b := range boxes {
		if b.path == path {
			r = append(r, b.box)
		}
	}
	return r
}

// TestWriterClips writes every embedded clip and checks the result three
// independent ways: go-mp4's parser, our Scan, and ffmpeg/ffprobe decoding.
func TestWriterClips(t *testing.T) {
	cases := []struct {
		clip          string
		width, height int
		fragDur       int64
	}{
		{testcam.ClipMain720, 1280, 720, 0},
		{testcam.ClipHigh360BFrame, 640, 360, 0},
		{testcam.ClipBase240, 320, 240, 45000},
	}
	for _, tc := range cases {
		t.Run(tc.clip, func(t *testing.T) {
			t.Parallel()
			c := loadClip(t, tc.clip)
			b, st := writeClip(t, c, WriterOptions{FragmentDuration: tc.fragDur})
			fragDur := tc.fragDur
			if fragDur == 0 {
				fragDur = DefaultFragmentDuration
			}
			n := len(c.Frames)
			wantFrags := int((int64(n)*frameDuration + fragDur - 1) / fragDur)
			if st.Frames != int64(n) || st.Bytes != int64(len(b)) || st.Fragments != int64(wantFrags) {
				t.Errorf("stats %+v, want %d frames, %d bytes, %d fragments", st, n, len(b), wantFrags)
			}
			if st.FirstDTS != c.Frames[0].DTS || st.EndDTS != c.Frames[n-1].DTS+frameDuration {
				t.Errorf("stats DTS [%d,%d), want [%d,%d)", st.FirstDTS, st.EndDTS, c.Frames[0].DTS, c.Frames[n-1].DTS+frameDuration)
			}

			boxes := parseTree(t, b)
			var top []string
			for _, pb := range boxes {
				if !strings.Contains(pb.path, "/") {
					top = append(top, pb.path)
				}
			}
			wantTop := "ftyp moov" + strings.Repeat(" moof mdat", wantFrags)
			if got := strings.Join(top, " "); got != wantTop {
				t.Fatalf("top-level boxes %q, want %q", got, wantTop)
			}
			for _, p := range []string{
				"moov/mvhd", "moov/trak/tkhd", "moov/trak/mdia/mdhd", "moov/trak/mdia/hdlr",
				"moov/trak/mdia/minf/vmhd", "moov/trak/mdia/minf/dinf/dref",
				"moov/trak/mdia/minf/stbl/stsd/avc1/avcC", "moov/trak/mdia/minf/stbl/stts",
				"moov/trak/mdia/minf/stbl/stsc", "moov/trak/mdia/minf/stbl/stsz",
				"moov/trak/mdia/minf/stbl/stco", "moov/mvex/trex",
			} {
				if len(find(boxes, p)) != 1 {
					t.Errorf("want exactly one %s", p)
				}
			}
			tkhd := find(boxes, "moov/trak/tkhd")[0].(*mp4.Tkhd)
			if tkhd.Width>>16 != uint32(tc.width) || tkhd.Height>>16 != uint32(tc.height) || tkhd.TrackID != 1 {
				t.Errorf("tkhd %dx%d id %d", tkhd.Width>>16, tkhd.Height>>16, tkhd.TrackID)
			}
			if m := find(boxes, "moov/trak/mdia/mdhd")[0].(*mp4.Mdhd); m.Timescale != 90000 {
				t.Errorf("mdhd timescale %d", m.Timescale)
			}
			avc1 := find(boxes, "moov/trak/mdia/minf/stbl/stsd/avc1")[0].(*mp4.VisualSampleEntry)
			if int(avc1.Width) != tc.width || int(avc1.Height) != tc.height {
				t.Errorf("avc1 %dx%d", avc1.Width, avc1.Height)
			}
			avcc := find(boxes, "moov/trak/mdia/minf/stbl/stsd/avc1/avcC")[0].(*mp4.AVCDecoderConfiguration)
			if !bytes.Equal(avcc.SequenceParameterSets[0].NALUnit, c.SPS) ||
				!bytes.Equal(avcc.PictureParameterSets[0].NALUnit, c.PPS) || avcc.LengthSizeMinusOne != 3 {
				t.Errorf("avcC does not carry the clip's SPS/PPS with 4-byte lengths")
			}

			// Every trun entry, in order, against the frames.
			i := 0
			seq := uint32(0)
			for fi, box := range find(boxes, "moof/traf/trun") {
				trun := box.(*mp4.Trun)
				if trun.GetVersion() != 1 || trun.GetFlags() != trunFlags {
					t.Fatalf("trun version %d flags %#x", trun.GetVersion(), trun.GetFlags())
				}
				tfdt := find(boxes, "moof/traf/tfdt")[fi].(*mp4.Tfdt)
				if got, want := int64(tfdt.BaseMediaDecodeTimeV1), c.Frames[i].DTS-c.Frames[0].DTS; tfdt.GetVersion() != 1 || got != want {
					t.Errorf("fragment %d tfdt v%d %d, want v1 %d", fi, tfdt.GetVersion(), got, want)
				}
				mfhd := find(boxes, "moof/mfhd")[fi].(*mp4.Mfhd)
				if mfhd.SequenceNumber != seq+1 {
					t.Errorf("fragment %d sequence %d", fi, mfhd.SequenceNumber)
				}
				seq = mfhd.SequenceNumber
				tfhd := find(boxes, "moof/traf/tfhd")[fi].(*mp4.Tfhd)
				if tfhd.GetFlags() != tfhdDefaultBaseIsMoof || tfhd.TrackID != 1 {
					t.Errorf("tfhd flags %#x track %d", tfhd.GetFlags(), tfhd.TrackID)
				}
				for _, e := range trun.Entries {
					f := c.Frames[i]
					wantDur := uint32(frameDuration)
					if i+1 < n {
						wantDur = uint32(c.Frames[i+1].DTS - f.DTS)
					}
					wantFlags := uint32(flagsNonSync)
					if f.Keyframe {
						wantFlags = flagsSync
					}
					if e.SampleDuration != wantDur || e.SampleSize != sampleSize(f) || e.SampleFlags != wantFlags ||
						int64(e.SampleCompositionTimeOffsetV1) != f.PTS-f.DTS {
						t.Fatalf("sample %d: trun entry %+v; want dur %d size %d flags %#x cto %d",
							i, e, wantDur, sampleSize(f), wantFlags, f.PTS-f.DTS)
					}
					i++
				}
			}
			if i != n {
				t.Fatalf("trun entries %d, want %d", i, n)
			}

			info, err := Scan(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			checkScan(t, info, c, b, wantFrags)

			dir := t.TempDir()
			p := writeFile(t, dir, "seg.mp4", b)
			ffmpegDecode(t, p)
			if got := ffprobeFrames(t, p); got != n {
				t.Errorf("ffprobe counted %d frames, want %d", got, n)
			}
		})
	}
}

// checkScan compares Scan's view with the frames that were written,
// including the sample bytes at each offset.
func checkScan(t *testing.T, info *SegmentInfo, c *testcam.Clip, file []byte, frags int) {
	t.Helper()
	n := len(c.Frames)
	if len(info.Samples) != n || info.Fragments != frags || info.ValidSize != int64(len(file)) || info.Timescale != Timescale {
		t.Fatalf("scan: %d samples, %d fragments, valid %d of %d, timescale %d",
			len(info.Samples), info.Fragments, info.ValidSize, len(file), info.Timescale)
	}
	if !bytes.Equal(info.Params.SPS, c.SPS) || !bytes.Equal(info.Params.PPS, c.PPS) {
		t.Errorf("scan params do not match the clip")
	}
	keys := 0
	for i, s := range info.Samples {
		f := c.Frames[i]
		if f.Keyframe {
			keys++
		}
		if s.Size != sampleSize(f) || s.DTS != f.DTS-c.Frames[0].DTS || int64(s.CTO) != f.PTS-f.DTS || s.Keyframe != f.Keyframe {
			t.Fatalf("sample %d: %+v vs frame size %d dts %d cto %d key %v", i, s, sampleSize(f), f.DTS-c.Frames[0].DTS, f.PTS-f.DTS, f.Keyframe)
		}
		// The bytes at Offset are the frame's NAL units, length-prefixed.
		data := file[s.Offset : s.Offset+int64(s.Size)]
		for _, nalu := range f.NALUs {
			if int(binary.BigEndian.Uint32(data)) != len(nalu) || !bytes.Equal(data[4:4+len(nalu)], nalu) {
				t.Fatalf("sample %d bytes differ from the frame's NAL units", i)
			}
			data = data[4+len(nalu):]
		}
	}
	if info.Keyframes != keys {
		t.Errorf("keyframes %d, want %d", info.Keyframes, keys)
	}
	if want := c.Frames[n-1].DTS + frameDuration - c.Frames[0].DTS; info.Duration != want {
		t.Errorf("duration %d, want %d", info.Duration, want)
	}
}

// synthetic builds a tiny stream with the base240 parameter sets and small
// fake slices: enough for golden bytes and unit tests, not for decoding.
func synthetic(n int) (TrackParams, []Sample) {
	c, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		panic(err)
	}
	var s []Sample
	for i := 0; i < n; i++ {
		typ := byte(0x41) // non-IDR slice
		if i%4 == 0 {
			typ = 0x65 // IDR slice
		}
		s = append(s, Sample{
			NALUs:    [][]byte{{0x09, 0xf0}, {typ, byte(i), 0xaa, 0xbb}},
			DTS:      int64(i) * 3000,
			PTS:      int64(i)*3000 + 6000,
			Keyframe: i%4 == 0,
		})
	}
	return TrackParams{SPS: c.SPS, PPS: c.PPS}, s
}

// TestWriterGolden pins the exact bytes of a tiny segment, so any change to
// the layout is deliberate (regenerate with -update and review the diff).
func TestWriterGolden(t *testing.T) {
	p, samples := synthetic(10)
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
	if err := w.Close(30000); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden_tiny.mp4")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("output differs from %s (%d vs %d bytes); run with -update after checking why", golden, buf.Len(), len(want))
	}
}

// TestWriterFragmentation checks when fragments are cut and what Flush and
// Close do with the held-back last sample.
func TestWriterFragmentation(t *testing.T) {
	p, samples := synthetic(10) // DTS 0, 3000, ..., 27000
	cases := []struct {
		name      string
		fragDur   int64
		flushAt   int   // Flush after this many samples (0: never)
		endDTS    int64 // Close argument
		wantFrags []int // samples per fragment
		wantLast  uint32
	}{
		{"one fragment", 90000, 0, 30000, []int{10}, 3000},
		{"every 4 samples", 12000, 0, 30000, []int{4, 4, 2}, 3000},
		{"every sample", 1, 0, 30000, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 3000},
		{"end given abuts", 90000, 0, 40000, []int{10}, 13000},
		{"end before last repeats previous", 90000, 0, 27000, []int{10}, 3000},
		{"flush keeps the last back", 90000, 5, 30000, []int{4, 6}, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, p, WriterOptions{FragmentDuration: tc.fragDur})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range samples {
				if err := w.WriteSample(s); err != nil {
					t.Fatal(err)
				}
				if i+1 == tc.flushAt {
					if err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Close(tc.endDTS); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, box := range find(parseTree(t, buf.Bytes()), "moof/traf/trun") {
				got = append(got, len(box.(*mp4.Trun).Entries))
			}
			if !equalInts(got, tc.wantFrags) {
				t.Fatalf("fragments %v, want %v", got, tc.wantFrags)
			}
			info, err := Scan(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if d := info.Samples[len(info.Samples)-1].Duration; d != tc.wantLast {
				t.Errorf("last duration %d, want %d", d, tc.wantLast)
			}
			if st := w.Stats(); st.EndDTS != 27000+int64(tc.wantLast) || info.Duration != st.EndDTS-st.FirstDTS {
				t.Errorf("stats end %d, scan duration %d", st.EndDTS, info.Duration)
			}
		})
	}
}

func TestWriterSingleSample(t *testing.T) {
	p, samples := synthetic(1)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, p, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSample(samples[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(0); err != nil {
		t.Fatal(err)
	}
	info, err := Scan(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Samples) != 1 || info.Samples[0].Duration != defaultLastDuration {
		t.Fatalf("samples %+v", info.Samples)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWriterCopiesNALUs: the caller's buffers are reused after WriteSample
// returns (the RTP depacketizer does so), so the writer must copy.
func TestWriterCopiesNALUs(t *testing.T) {
	p, samples := synthetic(3)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, p, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if err := w.WriteSample(s); err != nil {
			t.Fatal(err)
		}
		for _, n := range s.NALUs {
			for i := range n {
				n[i] = 0xee // the caller reuses its memory
			}
		}
	}
	if err := w.Close(9000); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte{0xee, 0xee}) {
		t.Fatal("writer kept references to the caller's NAL units")
	}
}

// writeRecorder records each Write call separately.
type writeRecorder struct{ writes [][]byte }

func (r *writeRecorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestWriterOneWritePerFragment: a killed process loses at most the
// fragment in progress only if each fragment reaches the file in one write.
func TestWriterOneWritePerFragment(t *testing.T) {
	c := loadClip(t, testcam.ClipHigh360BFrame)
	var rec writeRecorder
	w, err := NewWriter(&rec, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Frames {
		if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(c.Frames[len(c.Frames)-1].DTS + frameDuration); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1+int(w.Stats().Fragments) {
		t.Fatalf("%d writes for %d fragments", len(rec.writes), w.Stats().Fragments)
	}
	for i, b := range rec.writes[1:] {
		moof, ok := parseHeader(b)
		if !ok || !typeIs(moof.typ, "moof") {
			t.Fatalf("write %d does not start with moof", i+1)
		}
		mdat, ok := parseHeader(b[moof.size:])
		if !ok || !typeIs(mdat.typ, "mdat") || moof.size+mdat.size != int64(len(b)) {
			t.Fatalf("write %d is not exactly one moof+mdat", i+1)
		}
	}
}

type failWriter struct {
	n   int // successful writes before failing
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	p, samples := synthetic(3)
	key, nonKey := samples[0], samples[1]
	cases := []struct {
		name    string
		prior   []Sample
		sample  Sample
		wantErr error
	}{
		{"first not keyframe", nil, nonKey, ErrNotKeyframe},
		{"no NAL units", nil, Sample{DTS: 0, Keyframe: true}, ErrBadSample},
		{"empty NAL unit", nil, Sample{NALUs: [][]byte{{}}, Keyframe: true}, ErrBadSample},
		{"PTS before DTS", nil, Sample{NALUs: key.NALUs, DTS: 10, PTS: 5, Keyframe: true}, ErrBadSample},
		{"too large", nil, Sample{NALUs: [][]byte{make([]byte, MaxSampleSize)}, Keyframe: true}, ErrBadSample},
		{"same DTS", []Sample{key}, Sample{NALUs: nonKey.NALUs, DTS: key.DTS, PTS: key.PTS}, ErrNonMonotonicDTS},
		{"DTS backwards", []Sample{key}, Sample{NALUs: nonKey.NALUs, DTS: key.DTS - 1, PTS: key.PTS}, ErrNonMonotonicDTS},
		{"DTS jump past 32 bits", []Sample{key}, Sample{NALUs: nonKey.NALUs, DTS: key.DTS + 1<<33, PTS: key.DTS + 1<<33}, ErrBadSample},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, p, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.prior {
				if err := w.WriteSample(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteSample(tc.sample); !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}

	t.Run("bad params", func(t *testing.T) {
		for _, bad := range []TrackParams{
			{},
			{SPS: p.SPS},
			{SPS: p.PPS, PPS: p.PPS},
			{SPS: p.SPS, PPS: p.SPS},
			{SPS: []byte{0x67, 0x42}, PPS: p.PPS},
			{SPS: p.SPS, PPS: p.PPS, Width: 70000, Height: 10},
		} {
			if _, err := NewWriter(io.Discard, bad, WriterOptions{}); !errors.Is(err, ErrBadParams) {
				t.Errorf("%+v: got %v, want ErrBadParams", bad, err)
			}
		}
	})

	t.Run("closed", func(t *testing.T) {
		w, err := NewWriter(io.Discard, p, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(0); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSample(key); !errors.Is(err, ErrClosed) {
			t.Errorf("write after close: %v", err)
		}
		if err := w.Flush(); !errors.Is(err, ErrClosed) {
			t.Errorf("flush after close: %v", err)
		}
		if err := w.Close(0); !errors.Is(err, ErrClosed) {
			t.Errorf("second close: %v", err)
		}
	})

	t.Run("write error is sticky", func(t *testing.T) {
		disk := errors.New("disk on fire")
		fw := &failWriter{n: 1, err: disk}
		w, err := NewWriter(fw, p, WriterOptions{FragmentDuration: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSample(samples[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSample(samples[1]); !errors.Is(err, disk) {
			t.Fatalf("got %v, want the write error", err)
		}
		if err := w.WriteSample(samples[2]); !errors.Is(err, disk) {
			t.Fatalf("after a failed write: %v", err)
		}
		if st := w.Stats(); st.Fragments != 0 || st.Frames != 0 {
			t.Fatalf("stats count a failed fragment: %+v", st)
		}
	})

	t.Run("init write error", func(t *testing.T) {
		disk := errors.New("no space")
		if _, err := NewWriter(&failWriter{err: disk}, p, WriterOptions{}); !errors.Is(err, disk) {
			t.Fatalf("got %v", err)
		}
	})
}

// BenchmarkWriter measures the segment writer on the ingest path in steady
// state (one long segment, init excluded): MB/s of video written and
// allocations per sample (one op is one sample).
func BenchmarkWriter(b *testing.B) {
	c := loadClip(b, testcam.ClipMain720)
	w, err := NewWriter(io.Discard, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, f := range c.Frames {
		total += int64(sampleSize(f))
	}
	b.SetBytes(total / int64(len(c.Frames)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := c.Frames[i%len(c.Frames)]
		loop := int64(i/len(c.Frames)) * c.Duration
		if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS + loop, PTS: f.PTS + loop, Keyframe: f.Keyframe}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriterLargeFragments: high frame rates put more samples in a fragment
// than the moof headroom first allows, and MaxSamplesPerFragment cuts a
// fragment early.
func TestWriterLargeFragments(t *testing.T) {
	cases := []struct {
		name      string
		n         int
		wantFrags []int
	}{
		{"headroom grows", 300, []int{300}},
		{"cut at the sample limit", MaxSamplesPerFragment + 500, []int{MaxSamplesPerFragment, 500}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, samples := synthetic(tc.n)
			var buf bytes.Buffer
			w, err := NewWriter(&buf, p, WriterOptions{FragmentDuration: 1 << 40})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range samples {
				if err := w.WriteSample(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(int64(tc.n) * 3000); err != nil {
				t.Fatal(err)
			}
			info, err := Scan(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, box := range find(parseTree(t, buf.Bytes()), "moof/traf/trun") {
				got = append(got, len(box.(*mp4.Trun).Entries))
			}
			if !equalInts(got, tc.wantFrags) || len(info.Samples) != tc.n {
				t.Fatalf("fragments %v (want %v), scanned %d samples", got, tc.wantFrags, len(info.Samples))
			}
			for i, s := range info.Samples {
				if s.DTS != int64(i)*3000 || s.Duration != 3000 || s.Size != 4+2+4+4 {
					t.Fatalf("sample %d: %+v", i, s)
				}
			}
		})
	}
}

// TestWriterReusesBuffer: a writer started after another closed takes its
// fragment buffer instead of allocating half a megabyte of its own (a recorder
// starts one per segment of every camera).
func TestWriterReusesBuffer(t *testing.T) {
	p, samples := synthetic(50)
	segment := func() {
		w, err := NewWriter(io.Discard, p, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range samples {
			if err := w.WriteSample(s); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(samples[len(samples)-1].DTS + 3000); err != nil {
			t.Fatal(err)
		}
	}
	segment()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		segment()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 256<<10 {
		t.Fatalf("%d bytes allocated a segment", per)
	}
}
