package footage

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// recordAVSegment writes clip with Opus audio as one finished segment,
// as the recorder does with a camera that sends sound.
func recordAVSegment(t *testing.T, stor *storage.Store, clip *testcam.Clip, start time.Time) storage.Segment {
	t.Helper()
	ctx := context.Background()
	seg := storage.Segment{Camera: "cam", StartNS: start.UnixNano(), Codecs: "avc1.4d401f", Width: 1280, Height: 720}
	f, err := stor.CreateSegment(ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	defer f.Abandon()
	if seg, err = stor.Segment(ctx, id); err != nil {
		t.Fatal(err)
	}
	w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: clip.SPS, PPS: clip.PPS},
		fmp4.WriterOptions{Audio: &fmp4.AudioParams{Codec: "opus", Timescale: 48000, SampleRate: 48000, Channels: 1}})
	if err != nil {
		t.Fatal(err)
	}
	end := int64(len(clip.Frames)) * 3600
	opus := testaudio.Opus(t, 1, float64(end)/90000+0.5)
	ai := 0
	for _, fr := range clip.Frames {
		for ; ai < len(opus) && int64(ai)*960*90000/48000 <= fr.DTS; ai++ {
			if err := w.WriteAudio(fmp4.AudioSample{DTS: int64(ai) * 960, Duration: 960, Data: opus[ai]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: fr.DTS, PTS: fr.PTS, Keyframe: fr.Keyframe}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(end); err != nil {
		t.Fatal(err)
	}
	seg.EndNS = seg.StartNS + end*int64(time.Second)/90000
	seg.Frames = int64(len(clip.Frames))
	if err := f.Finish(ctx, seg); err != nil {
		t.Fatal(err)
	}
	return seg
}

// TestPlanAudio: a segment recorded with sound exports with sound through
// the index (its sample index row, version 2) as the API and `nvr export`
// read it, and a segment without audio after it stays video only.
func TestPlanAudio(t *testing.T) {
	ctx := context.Background()
	st, clip := storeAndClip(t, testcam.ClipMain720)
	s1 := recordAVSegment(t, st, clip, t0)
	s2 := recordSegment(t, st, clip, time.Unix(0, s1.EndNS), 0, 50, true)
	idx, err := st.SampleIndexes(ctx, "cam", s1.StartNS, s2.EndNS)
	if err != nil || len(idx[s1.ID]) < 2 || idx[s1.ID][0] != 2 || len(idx[s2.ID]) < 2 || idx[s2.ID][0] != 1 {
		t.Fatalf("sample index rows: %v; want version 2 for the segment with audio, 1 without", err)
	}
	e := New(st, nil)
	c, err := e.Plan(ctx, "cam", s1.StartNS, s2.EndNS, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.HasAudio() || c.AudioSkipped() != 0 {
		t.Fatalf("audio %v, skipped %d", c.HasAudio(), c.AudioSkipped())
	}
	data, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/clip.mp4"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ff := testaudio.Tool(t, "ffprobe")
	out, err := exec.Command(ff, "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "h264,") || !strings.HasPrefix(lines[1], "opus,") {
		t.Fatalf("streams %q, want h264 and opus", lines)
	}

	// Only the video-only segment: no audio track.
	c2, err := e.Plan(ctx, "cam", s2.StartNS, s2.EndNS, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.HasAudio() {
		t.Fatal("a segment without audio exports with an audio track")
	}
}
