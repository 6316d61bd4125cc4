package live

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// TestViewerAudio: a camera without audio streams a video-only init (a
// codec string without audio); once audio comes, the next keyframe brings
// a new init with a second track and the codec string lists both; the
// fragments after it carry the sound at its instants (our reader and
// ffmpeg read the viewer's bytes with both tracks). A viewer of the
// picture alone (WatchVideo) meanwhile gets every frame and never an
// audio track.
func TestViewerAudio(t *testing.T) {
	s := NewStream(nil)
	defer s.Close()
	v, err := s.Watch()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vv, err := s.WatchVideo()
	if err != nil {
		t.Fatal(err)
	}
	defer vv.Close()
	f := newFeeder(t, testcam.ClipBase240)
	gop := 0
	for i, fr := range f.clip.Frames {
		if i > 0 && fr.Keyframe {
			gop = i
			break
		}
	}
	if gop == 0 {
		t.Fatal("clip has one keyframe")
	}
	publish(s, f, gop) // video only, up to before the second keyframe
	msgs := drain(t, v, gop)
	if len(msgs) == 0 || !msgs[0].Init || strings.Contains(msgs[0].Codec, ",") {
		t.Fatalf("without audio: first message %+v", msgs[0])
	}

	opus := testaudio.Opus(t, 1, 8)
	format := &audio.Format{Codec: audio.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 1, Opus: true}
	ai := 0
	// Audio from the current video time on, as a camera interleaves it.
	start := f.next()
	f.n--
	a0 := start.DTS * 48000 / 90000
	var got []*Message
	for n := 0; n < 3*len(f.clip.Frames); n++ {
		au := f.next()
		for ; ai < len(opus) && (a0+int64(ai)*960)*90000/48000 <= au.DTS; ai++ {
			s.Audio(format, &audio.Frame{PTS: a0 + int64(ai)*960, Duration: 960, Data: opus[ai]}, time.Now().UnixNano())
		}
		before := s.Stats().Frames
		s.Frame(au, time.Now().UnixNano())
		for deadline := time.Now().Add(2 * time.Second); s.Stats().Frames == before && time.Now().Before(deadline); {
			time.Sleep(50 * time.Microsecond)
		}
	}
	got = append(got, drain(t, v, 3*len(f.clip.Frames)+1)...)
	init := -1
	for i, m := range got {
		if m.Init {
			init = i
			break
		}
	}
	if init < 0 {
		t.Fatal("no new init segment after audio came")
	}
	if c := got[init].Codec; !strings.HasSuffix(c, ",opus") || !strings.HasPrefix(c, "avc1.") {
		t.Fatalf("codec %q, want the video's and opus", c)
	}
	var file bytes.Buffer
	for _, m := range got[init:] {
		if m.Init && file.Len() > 0 {
			t.Fatal("a second init with the same audio format")
		}
		file.Write(m.Data)
	}
	info, err := fmp4.Scan(bytes.NewReader(file.Bytes()), int64(file.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if info.Audio == nil || len(info.Audio.Samples) < 50 {
		t.Fatalf("viewer's stream: audio %+v", info.Audio)
	}
	// The sound is at its instants: the first audio sample plays with
	// the first picture of the new init (within one audio frame), and
	// audio lasts as long as the video (within 40 ms and one video frame).
	aStart := float64(info.Audio.Samples[0].DTS) / 48000
	vEnd := float64(info.Duration) / 90000
	aEnd := float64(info.Audio.Samples[len(info.Audio.Samples)-1].DTS+int64(info.Audio.Samples[len(info.Audio.Samples)-1].Duration)) / 48000
	if aStart > 0.021 || aEnd < vEnd-0.1 || aEnd > vEnd+0.1 {
		t.Fatalf("audio [%.3f, %.3f] s, video [0, %.3f] s", aStart, aEnd, vEnd)
	}
	path := filepath.Join(t.TempDir(), "live.mp4")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a", "-f", "null", "-"); len(msg) > 0 {
		t.Fatalf("ffmpeg decoding the live audio: %s", msg)
	}
	if out := string(testaudio.Run(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path)); strings.Fields(out)[1] != "opus" {
		t.Fatalf("ffprobe streams %q", out)
	}

	// The video-only viewer: one init, without audio, and every frame.
	var video bytes.Buffer
	inits, frames := 0, 0
	for _, m := range drain(t, vv, 4*len(f.clip.Frames)+2) {
		if m.Init {
			inits++
			if strings.Contains(m.Codec, ",") {
				t.Fatalf("video-only viewer got an init with codec %q", m.Codec)
			}
		} else {
			frames++
		}
		video.Write(m.Data)
	}
	vinfo, err := fmp4.Scan(bytes.NewReader(video.Bytes()), int64(video.Len()))
	if err != nil {
		t.Fatal(err)
	}
	// All frames but the last, whose fragment waits for the next frame.
	if want := gop + 3*len(f.clip.Frames) - 1; inits != 1 || frames != want || vinfo.Audio != nil || len(vinfo.Samples) != want {
		t.Fatalf("video-only viewer: %d inits, %d frames (%d scanned, audio %v), want 1 init and %d frames", inits, frames, len(vinfo.Samples), vinfo.Audio != nil, want)
	}
}

// The stream is the recorder's live audio sink.
var _ recorder.LiveAudioSink = (*Stream)(nil)
