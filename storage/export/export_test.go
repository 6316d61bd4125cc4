package export

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mp4 "github.com/abema/go-mp4"
	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// t0 is a fixed wall-clock start for the test footage.
var t0 = time.Date(2026, 3, 29, 0, 59, 50, 0, time.UTC).UnixNano()

const (
	frameNS  = int64(40 * time.Millisecond) // 25 fps
	frame90k = 3600
)

// segment writes clip c as one segment file and returns it as an Input
// starting at wall time startNS.
func segment(t testing.TB, dir string, c *testcam.Clip, startNS int64) Input {
	t.Helper()
	return segmentWith(t, dir, c, startNS, fmp4.TrackParams{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS})
}

// segmentWith is segment with explicit track parameters.
func segmentWith(t testing.TB, dir string, c *testcam.Clip, startNS int64, tp fmp4.TrackParams) Input {
	t.Helper()
	p := filepath.Join(dir, strconv.FormatInt(startNS, 10)+"-"+c.Name+".mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fmp4.NewWriter(f, tp, fmp4.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range c.Frames {
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS, PTS: fr.PTS, Keyframe: fr.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(c.Frames[len(c.Frames)-1].DTS + frame90k); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return openInput(t, p, startNS)
}

// openInput opens the segment file at p, recorded from wall time startNS,
// and scans it into an export Input (closed when the test ends).
func openInput(t testing.TB, p string, startNS int64) Input {
	t.Helper()
	rf, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close() })
	st, err := rf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := fmp4.Scan(rf, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return Input{Info: info, File: rf, StartNS: startNS, EndNS: startNS + info.Duration*int64(time.Second)/90000}
}

func loadClip(t testing.TB, name string) *testcam.Clip {
	t.Helper()
	c, err := testcam.LoadClip(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requireTool skips when an external tool is missing, except under CI.
func requireTool(t testing.TB, name string) string { return testaudio.Tool(t, name) }

// saveClip reads the whole clip through ReadAt into a file.
func saveClip(t testing.TB, c *Clip, path string) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != c.Size() {
		t.Fatalf("read %d bytes, size %d", len(b), c.Size())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

type probe struct {
	duration   float64 // seconds, as presented (edit list applied)
	frames     int     // video frames decoded and presented
	firstFlags string  // flags of the first video packet
	streams    string  // codec types, one a line
}

// ffprobe decodes every frame once and fails on any message at level
// error, such as a decode error, and on presentation times going backwards.
func ffprobe(t testing.TB, path string) probe {
	t.Helper()
	fp := requireTool(t, "ffprobe")
	run := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(fp, append([]string{"-v", "error"}, append(args, path)...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("ffprobe %v: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	var p probe
	// One decoding pass: every presented video frame's pts, which must
	// strictly increase (frames shown in order, none twice).
	last := int64(-1 << 62)
	for _, line := range strings.Split(run("-select_streams", "v:0", "-show_entries", "frame=pts", "-of", "csv=p=0"), "\n") {
		line = strings.Trim(line, ", ")
		if line == "" {
			continue
		}
		pts, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("frame pts %q", line)
		}
		if pts <= last {
			t.Fatalf("frame %d: pts %d after %d", p.frames, pts, last)
		}
		last = pts
		p.frames++
	}
	var types []string
	for _, line := range strings.Split(run("-show_entries", "format=duration:stream=codec_type", "-of", "default=nw=1"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "codec_type":
			types = append(types, v)
		case "duration":
			p.duration, _ = strconv.ParseFloat(v, 64)
		}
	}
	p.streams = strings.Join(types, "\n")
	p.firstFlags = strings.SplitN(run("-select_streams", "v:0", "-show_entries", "packet=flags", "-read_intervals", "%+#1", "-of", "csv=p=0"), "\n", 2)[0]
	return p
}

func ffmpegDecode(t testing.TB, path string) {
	t.Helper()
	ff := requireTool(t, "ffmpeg")
	out, err := exec.Command(ff, "-nostdin", "-v", "error", "-i", path, "-map", "0:v", "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode: err=%v\n%s", err, out)
	}
}

// TestExportDecodes builds clips across segments, gaps, SPS changes and
// B-frames, with ranges starting mid-GOP and ending mid-segment, and checks
// them with ffprobe/ffmpeg: zero decode errors, duration within one frame
// of the expectation, the first packet a keyframe.
func TestExportDecodes(t *testing.T) {
	main720 := loadClip(t, testcam.ClipMain720)       // 4 s
	base240 := loadClip(t, testcam.ClipBase240)       // 2 s
	bframes := loadClip(t, testcam.ClipHigh360BFrame) // 4 s
	sec := int64(time.Second)
	type seg struct {
		clip  *testcam.Clip
		gapNS int64 // wall-clock gap before this segment
	}
	cases := []struct {
		name       string
		segs       []seg
		start, end int64 // relative to t0
		wantSec    float64
		wantGaps   int
		ffmpeg     bool // also decode with ffmpeg (ffprobe always decodes)
	}{
		{"three segments whole", []seg{{main720, 0}, {main720, 0}, {main720, 0}}, 0, 12 * sec, 12, 0, false},
		{"range wider than footage", []seg{{main720, 0}, {main720, 0}}, -5 * sec, 20 * sec, 8, 0, false},
		{"mid-GOP start, mid-segment end", []seg{{main720, 0}, {main720, 0}, {main720, 0}}, 1300 * int64(time.Millisecond), 10500 * int64(time.Millisecond), 9.2, 0, false},
		{"inside one segment", []seg{{main720, 0}}, 2500 * int64(time.Millisecond), 3 * sec, 0.5, 0, false},
		{"across a gap", []seg{{main720, 0}, {main720, 30 * sec}, {main720, 0}}, sec, 45 * sec, 11, 1, false},
		{"SPS change", []seg{{main720, 0}, {base240, 0}, {main720, 0}}, 500 * int64(time.Millisecond), 9 * sec, 8.5, 0, true},
		{"B-frames then none", []seg{{bframes, 0}, {base240, 0}, {bframes, 0}}, 300 * int64(time.Millisecond), 9 * sec, 8.7, 0, false},
		{"B-frames mid-GOP", []seg{{bframes, 0}, {bframes, 0}}, 1700 * int64(time.Millisecond), 7300 * int64(time.Millisecond), 5.6, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var inputs []Input
			at := t0
			for _, s := range tc.segs {
				at += s.gapNS
				in := segment(t, dir, s.clip, at)
				inputs = append(inputs, in)
				at = in.EndNS
			}
			clip, err := New(inputs, Options{StartNS: t0 + tc.start, EndNS: t0 + tc.end})
			if err != nil {
				t.Fatal(err)
			}
			if len(clip.Gaps()) != tc.wantGaps {
				t.Fatalf("gaps %v, want %d", clip.Gaps(), tc.wantGaps)
			}
			if tc.wantGaps == 1 {
				g := clip.Gaps()[0]
				if g.StartNS != inputs[0].EndNS || g.EndNS != inputs[1].StartNS {
					t.Errorf("gap %+v, want [%d,%d)", g, inputs[0].EndNS, inputs[1].StartNS)
				}
			}
			if got := float64(clip.Duration()) / 90000; abs(got-tc.wantSec) > 0.04 {
				t.Errorf("Duration() %.3f s, want %.3f", got, tc.wantSec)
			}
			out := filepath.Join(dir, "clip.mp4")
			b := saveClip(t, clip, out)
			checkBoxes(t, b)
			if tc.ffmpeg {
				ffmpegDecode(t, out)
			}
			p := ffprobe(t, out)
			if abs(p.duration-tc.wantSec) > 0.04+1e-9 {
				t.Errorf("ffprobe duration %.3f s, want %.3f ± one frame", p.duration, tc.wantSec)
			}
			if want := int(tc.wantSec*25 + 0.5); p.frames < want-1 || p.frames > want+1 {
				t.Errorf("ffprobe decoded %d frames, want %d ± 1", p.frames, want)
			}
			if !strings.HasPrefix(p.firstFlags, "K") {
				t.Errorf("first packet flags %q, want a keyframe", p.firstFlags)
			}
		})
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// checkBoxes parses the clip with go-mp4: a progressive layout (moov before
// mdat) whose tables agree with each other.
func checkBoxes(t *testing.T, b []byte) {
	t.Helper()
	var top []string
	var stsz *mp4.Stsz
	var stts *mp4.Stts
	var elst *mp4.Elst
	_, err := mp4.ReadBoxStructure(bytes.NewReader(b), func(h *mp4.ReadHandle) (interface{}, error) {
		if len(h.Path) == 1 {
			top = append(top, h.BoxInfo.Type.String())
		}
		if h.BoxInfo.Type == mp4.BoxTypeMdat() || !h.BoxInfo.IsSupportedType() {
			return nil, nil
		}
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		if len(h.Path) > 2 && h.Path[1] == mp4.BoxTypeTrak() && stsz == nil || len(h.Path) > 2 && h.Path[1] == mp4.BoxTypeTrak() && (stts == nil || elst == nil) {
			switch v := box.(type) {
			case *mp4.Stsz:
				if stsz == nil {
					stsz = v
				}
			case *mp4.Stts:
				if stts == nil {
					stts = v
				}
			case *mp4.Elst:
				if elst == nil {
					elst = v
				}
			}
		}
		_, err = h.Expand()
		return nil, err
	})
	if err != nil {
		t.Fatalf("go-mp4: %v", err)
	}
	if strings.Join(top, " ") != "ftyp moov mdat" {
		t.Fatalf("top-level boxes %v, want ftyp moov mdat", top)
	}
	var n uint32
	for _, e := range stts.Entries {
		n += e.SampleCount
	}
	if stsz == nil || n != stsz.SampleCount || int(n) != len(stsz.EntrySize) || elst == nil || len(elst.Entries) != 1 {
		t.Fatalf("inconsistent tables: stts %d samples, stsz %+v", n, stsz)
	}
}

// TestExportTimestamps: the subtitle track carries the wall-clock time of
// each second in the configured zone, with its UTC offset, and jumps over a
// closed gap.
func TestExportTimestamps(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	main720 := loadClip(t, testcam.ClipMain720)
	dir := t.TempDir()
	s1 := segment(t, dir, main720, t0)
	s2 := segment(t, dir, main720, s1.EndNS+int64(time.Hour)) // a gap of an hour
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	clip, err := New([]Input{s1, s2}, Options{StartNS: t0 + int64(time.Second)/2, EndNS: s2.EndNS, Timestamps: true, Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "clip.mp4")
	saveClip(t, clip, out)
	ffmpegDecode(t, out)
	if p := ffprobe(t, out); p.streams != "video\nsubtitle" {
		t.Fatalf("streams %q", p.streams)
	}
	srt, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", out, "-map", "0:s", "-f", "srt", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(srt)
	// t0 is 00:59:50 UTC on the day Berlin moves to summer time at 01:00
	// UTC: the first segment shows 01:59:50 +01:00 for half a second (the
	// clip starts at :50.5), the second one, an hour and 4 s later, shows
	// 03:59:54 +02:00 right after 01:59:53.
	for _, want := range []string{
		"00:00:00,000 --> 00:00:00,500",
		"2026-03-29 01:59:50 +01:00",
		"00:00:03,500 --> 00:00:04,500",
		"2026-03-29 01:59:53 +01:00</font>\n\n5\n00:00:03,500 --> 00:00:04,500\n<font face=\"Sans-Serif\" size=\"18\">2026-03-29 03:59:54 +02:00",
		"2026-03-29 03:59:57 +02:00",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("subtitles lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "01:59:54 +01:00") || strings.Contains(text, "03:59:58") {
		t.Errorf("a second past the first segment's end is shown:\n%s", text)
	}
}

// TestExportRangeContract: any ReadAt range equals the same bytes of one
// full read, so http.ServeContent's Range answers are exact.
func TestExportRangeContract(t *testing.T) {
	main720 := loadClip(t, testcam.ClipMain720)
	dir := t.TempDir()
	a := segment(t, dir, main720, t0)
	b := segment(t, dir, main720, a.EndNS)
	clip, err := New([]Input{a, b}, Options{StartNS: t0 + int64(time.Second), EndNS: b.EndNS - int64(time.Second), Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	full := make([]byte, clip.Size())
	if n, err := clip.ReadAt(full, 0); n != len(full) || (err != nil && err != io.EOF) {
		t.Fatalf("full read: %d, %v", n, err)
	}
	rng := rand.New(rand.NewSource(1))
	var cat []byte
	for off := int64(0); off < clip.Size(); {
		n := min(int64(rng.Intn(200000)+1), clip.Size()-off)
		p := make([]byte, n)
		got, err := clip.ReadAt(p, off)
		if int64(got) != n || (err != nil && !(err == io.EOF && off+n == clip.Size())) {
			t.Fatalf("ReadAt(%d, %d): %d, %v", n, off, got, err)
		}
		cat = append(cat, p...)
		off += n
	}
	if !bytes.Equal(cat, full) {
		t.Fatal("concatenated ranges differ from the full read")
	}
	for i := 0; i < 200; i++ {
		off := rng.Int63n(clip.Size())
		n := rng.Int63n(clip.Size()-off) + 1
		p := make([]byte, n)
		if got, _ := clip.ReadAt(p, off); int64(got) != n || !bytes.Equal(p, full[off:off+n]) {
			t.Fatalf("range [%d,+%d) differs", off, n)
		}
	}
	// Past the end: io.EOF; straddling the end: short read and io.EOF.
	if n, err := clip.ReadAt(make([]byte, 10), clip.Size()); n != 0 || err != io.EOF {
		t.Errorf("at end: %d, %v", n, err)
	}
	if n, err := clip.ReadAt(make([]byte, 10), clip.Size()-4); n != 4 || err != io.EOF {
		t.Errorf("straddling end: %d, %v", n, err)
	}
	if _, err := clip.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset accepted")
	}

	// The same plan gives the same ETag; another range another.
	again, err := New([]Input{a, b}, Options{StartNS: t0 + int64(time.Second), EndNS: b.EndNS - int64(time.Second), Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New([]Input{a, b}, Options{StartNS: t0 + int64(time.Second), EndNS: b.EndNS - 2*int64(time.Second), Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.ETag() != clip.ETag() || other.ETag() == clip.ETag() || !strings.HasPrefix(clip.ETag(), `"`) || !strings.HasSuffix(clip.ETag(), `"`) {
		t.Errorf("ETags %s %s %s", clip.ETag(), again.ETag(), other.ETag())
	}
}

// TestExportSourceChanged: retention may cut or delete a segment while a
// clip is served; ReadAt then fails, never returning wrong bytes.
func TestExportSourceChanged(t *testing.T) {
	main720 := loadClip(t, testcam.ClipMain720)
	dir := t.TempDir()
	a := segment(t, dir, main720, t0)
	clip, err := New([]Input{a}, Options{StartNS: t0, EndNS: a.EndNS})
	if err != nil {
		t.Fatal(err)
	}
	f := a.File.(*os.File)
	if err := os.Truncate(f.Name(), a.Info.ValidSize/2); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, io.NewSectionReader(clip, 0, clip.Size()))
	if !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("got %v, want ErrSourceChanged", err)
	}
}

func TestExportErrors(t *testing.T) {
	main720 := loadClip(t, testcam.ClipMain720)
	dir := t.TempDir()
	a := segment(t, dir, main720, t0)
	b := segment(t, dir, main720, a.EndNS+int64(time.Minute))
	sec := int64(time.Second)
	badTS := *a.Info
	badTS.Timescale = 1000
	noSPS := *a.Info
	noSPS.Params.SPS = nil
	backwards := *a.Info
	backwards.Samples = append([]fmp4.SampleInfo(nil), a.Info.Samples...)
	backwards.Samples[5].DTS = backwards.Samples[3].DTS
	cases := []struct {
		name   string
		inputs []Input
		opts   Options
		want   error
	}{
		{"before footage", []Input{a, b}, Options{StartNS: t0 - 10*sec, EndNS: t0}, ErrNoFootage},
		{"after footage", []Input{a, b}, Options{StartNS: b.EndNS, EndNS: b.EndNS + sec}, ErrNoFootage},
		{"inside the gap", []Input{a, b}, Options{StartNS: a.EndNS + sec, EndNS: b.StartNS}, ErrNoFootage},
		{"no inputs", nil, Options{StartNS: t0, EndNS: t0 + sec}, ErrNoFootage},
		{"end before start", []Input{a}, Options{StartNS: t0 + sec, EndNS: t0}, ErrBadInput},
		{"inputs out of order", []Input{b, a}, Options{StartNS: t0, EndNS: b.EndNS}, ErrBadInput},
		{"nil info", []Input{{File: a.File, StartNS: t0, EndNS: t0 + sec}}, Options{StartNS: t0, EndNS: t0 + sec}, ErrBadInput},
		{"foreign timescale", []Input{{Info: &badTS, File: a.File, StartNS: t0, EndNS: a.EndNS}}, Options{StartNS: t0, EndNS: t0 + sec}, ErrBadInput},
		{"no SPS", []Input{{Info: &noSPS, File: a.File, StartNS: t0, EndNS: a.EndNS}}, Options{StartNS: t0, EndNS: t0 + sec}, ErrBadInput},
		{"decode times out of order", []Input{{Info: &backwards, File: a.File, StartNS: t0, EndNS: a.EndNS}}, Options{StartNS: t0, EndNS: t0 + sec}, ErrBadInput},
		{"empty wall span", []Input{{Info: a.Info, File: a.File, StartNS: t0, EndNS: t0}}, Options{StartNS: t0, EndNS: t0 + sec}, ErrBadInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.inputs, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMulDiv(t *testing.T) {
	cases := []struct{ a, b, c, want int64 }{
		{90000, int64(time.Hour), 90000 * 3600, int64(time.Second)},
		{5_400_000 * 24, 86_400_000_000_000, 5_400_000 * 24, 86_400_000_000_000}, // 24 h of 90 kHz × ns: 2^82
		{1, 1, 3, 0},
		{0, 5, 7, 0},
		{1 << 62, 1 << 62, 1, 1<<63 - 1}, // saturates
	}
	for _, tc := range cases {
		if got := mulDiv(tc.a, tc.b, tc.c); got != tc.want {
			t.Errorf("mulDiv(%d,%d,%d) = %d, want %d", tc.a, tc.b, tc.c, got, tc.want)
		}
	}
}
