package fmp4

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/audio"
)

// audioCase is real audio, as nvr would record it, for a video clip.
type audioCase struct {
	name   string
	params AudioParams
	frames [][]byte
	dur    int64 // per frame, in Timescale
	codec  string
}

func audioCases(t *testing.T, seconds float64) []audioCase {
	t.Helper()
	asc, aac := testaudio.AAC(t, 16000, 1, seconds)
	cfg, err := audio.ParseAACConfig(asc)
	if err != nil {
		t.Fatal(err)
	}
	opus := testaudio.Opus(t, 1, seconds)

	// G.711 → FLAC exactly as recorder/audio does it.
	ulaw := testaudio.G711(t, "mulaw", seconds)
	g, _ := audio.NewG711("PCMU", 1)
	enc, _ := audio.NewFLACEncoder(8000, 1)
	var flac [][]byte
	emit := func(f *audio.Frame) { flac = append(flac, append([]byte(nil), f.Data...)) }
	for i := 0; i < len(ulaw); i += 160 {
		if err := enc.Push(int64(i), g.Decode(nil, ulaw[i:min(i+160, len(ulaw))]), emit); err != nil {
			t.Fatal(err)
		}
	}
	_ = enc.Flush(emit)
	info := enc.Info()

	return []audioCase{
		{"aac", AudioParams{Codec: cfg.Codec(), Timescale: 16000, SampleRate: 16000, Channels: 1, AACConfig: cfg.Raw, AACObjectType: cfg.ObjectType}, aac, 1024, "aac"},
		{"opus", AudioParams{Codec: audio.CodecOpus, Timescale: 48000, SampleRate: 48000, Channels: 1}, opus, 960, "opus"},
		{"flac", AudioParams{Codec: audio.CodecFLAC, Timescale: 8000, SampleRate: 8000, Channels: 1, FLACBlockSize: info.BlockSize}, flac, int64(info.BlockSize), "flac"},
	}
}

type probePacket struct {
	PTS      int64  `json:"pts"`
	Duration int64  `json:"duration"`
	Stream   int    `json:"stream_index"`
	Flags    string `json:"flags"`
}

type probeOut struct {
	Streams []struct {
		Index      int    `json:"index"`
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		SampleRate string `json:"sample_rate"`
		StartTime  string `json:"start_time"`
		Duration   string `json:"duration"`
	} `json:"streams"`
	Packets []probePacket `json:"packets"`
}

func probeAV(t *testing.T, path string) probeOut {
	t.Helper()
	var p probeOut
	out := testaudio.Run(t, "ffprobe", "-v", "error", "-show_streams", "-show_packets", "-of", "json", path)
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	return p
}

// writeAV writes clip c with audio frames laid from the clip's first DTS
// on, skipping the frames in lost, across several fragments.
func writeAV(t *testing.T, c *testcam.Clip, ac audioCase, lost map[int]bool) ([]byte, WriterStats) {
	t.Helper()
	var buf bytes.Buffer
	a := ac.params
	w, err := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{FragmentDuration: Timescale / 2, Audio: &a})
	if err != nil {
		t.Fatal(err)
	}
	start := c.Frames[0].DTS * int64(a.Timescale) / Timescale
	ai := 0
	for i, f := range c.Frames {
		// Audio up to this frame's time, as a camera interleaves it.
		for ai < len(ac.frames) && (start+int64(ai)*ac.dur)*Timescale/int64(a.Timescale) <= f.DTS {
			if !lost[ai] {
				if err := w.WriteAudio(AudioSample{DTS: start + int64(ai)*ac.dur, Duration: ac.dur, Data: ac.frames[ai]}); err != nil {
					t.Fatalf("audio %d: %v", ai, err)
				}
			}
			ai++
		}
		if err := w.WriteSample(Sample{NALUs: f.NALUs, DTS: f.DTS, PTS: f.PTS, Keyframe: f.Keyframe}); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	last := c.Frames[len(c.Frames)-1]
	if err := w.Close(last.DTS + frameDuration); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats()
}

// TestWriterAudioWithFFmpeg: a segment with H.264 and AAC, Opus or FLAC
// (G.711) decodes in ffmpeg with both streams; the audio starts with the
// video, every audio packet sits at the time it was given (a lost frame
// leaves a gap and shifts nothing after it), and Scan still indexes
// exactly the video samples of the same segment without audio.
func TestWriterAudioWithFFmpeg(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	seconds := float64(len(c.Frames)*frameDuration)/Timescale + 0.5
	plain, _ := writeClip(t, c, WriterOptions{FragmentDuration: Timescale / 2})
	want, err := Scan(bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ac := range audioCases(t, seconds) {
		t.Run(ac.name, func(t *testing.T) {
			lost := map[int]bool{5: true, 6: true}
			b, st := writeAV(t, c, ac, lost)
			path := writeFile(t, t.TempDir(), "av.mp4", b)
			if msg := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); len(msg) > 0 {
				t.Fatalf("ffmpeg decode: %s", msg)
			}
			p := probeAV(t, path)
			if len(p.Streams) != 2 || p.Streams[0].CodecName != "h264" || p.Streams[1].CodecName != ac.codec {
				t.Fatalf("streams %+v", p.Streams)
			}
			if rate, _ := strconv.Atoi(p.Streams[1].SampleRate); rate != ac.params.SampleRate {
				t.Fatalf("sample rate %s", p.Streams[1].SampleRate)
			}
			vStart, _ := strconv.ParseFloat(p.Streams[0].StartTime, 64)
			aStart, _ := strconv.ParseFloat(p.Streams[1].StartTime, 64)
			if math.Abs(vStart-aStart) > 0.001 {
				t.Fatalf("audio starts at %.4f s, video at %.4f s", aStart, vStart)
			}
			// Audio packets at exactly the times they were written.
			var pts []int64
			for _, pk := range p.Packets {
				if pk.Stream == 1 {
					pts = append(pts, pk.PTS)
				}
			}
			if int64(len(pts)) != st.AudioFrames || len(pts) < 20 {
				t.Fatalf("%d audio packets, %d written", len(pts), st.AudioFrames)
			}
			j := 0
			for i := 0; j < len(pts); i++ {
				if lost[i] {
					continue
				}
				if pts[j] != int64(i)*ac.dur {
					t.Fatalf("audio packet %d (frame %d) at %d, want %d", j, i, pts[j], int64(i)*ac.dur)
				}
				j++
			}
			// The video index is untouched by the audio track.
			got, err := Scan(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Samples) != len(want.Samples) || got.Duration != want.Duration || got.Keyframes != want.Keyframes {
				t.Fatalf("scan with audio: %d samples %d ticks; without: %d samples %d ticks", len(got.Samples), got.Duration, len(want.Samples), want.Duration)
			}
			for i := range want.Samples {
				g, w := got.Samples[i], want.Samples[i]
				if g.DTS != w.DTS || g.Duration != w.Duration || g.Size != w.Size || g.Keyframe != w.Keyframe {
					t.Fatalf("sample %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestWriterAudioBounds: audio before the segment start is dropped when
// the first video sample comes, bad samples are refused, audio flowing
// while video stalls is bounded, and a segment without audio params
// refuses audio.
func TestWriterAudioBounds(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	a := AudioParams{Codec: "opus", Timescale: 48000, SampleRate: 48000, Channels: 1}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{Audio: &a})
	if err != nil {
		t.Fatal(err)
	}
	f0 := c.Frames[0]
	f0.DTS += Timescale // the segment starts a second into the session
	f0.PTS += Timescale
	base := f0.DTS * 48000 / Timescale
	pkt := []byte{0xfc, 1, 2}
	for _, d := range []int64{base - 1920, base - 960, base, base + 960} {
		if err := w.WriteAudio(AudioSample{DTS: d, Duration: 960, Data: pkt}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteAudio(AudioSample{DTS: base, Duration: 960, Data: pkt}); !errors.Is(err, ErrNonMonotonicDTS) {
		t.Fatalf("repeated DTS: %v", err)
	}
	for _, bad := range []AudioSample{{DTS: base + 2000, Duration: 960}, {DTS: base + 2000, Duration: 0, Data: pkt}, {DTS: -1, Duration: 960, Data: pkt}} {
		if err := w.WriteAudio(bad); !errors.Is(err, ErrBadSample) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	if err := w.WriteSample(Sample{NALUs: f0.NALUs, DTS: f0.DTS, PTS: f0.PTS, Keyframe: true}); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.AudioDropped != 2 {
		t.Fatalf("dropped %d before the start, want 2", st.AudioDropped)
	}
	// Video stalls, audio flows: held audio stays bounded.
	for i := int64(2); i < maxAudioPending+100; i++ {
		if err := w.WriteAudio(AudioSample{DTS: base + i*960, Duration: 960, Data: pkt}); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.apend) > maxAudioPending || w.Stats().AudioDropped < 100 {
		t.Fatalf("%d held, %d dropped", len(w.apend), w.Stats().AudioDropped)
	}
	for _, p := range []AudioParams{
		{Codec: "opus", Timescale: 48000, SampleRate: 48000, Channels: 3},
		{Codec: "mp4a.40.2", Timescale: 44100, SampleRate: 44100, Channels: 2},
		{Codec: "flac", Timescale: 8000, SampleRate: 8000, Channels: 1, FLACBlockSize: 8},
		{Codec: "ulaw", Timescale: 8000, SampleRate: 8000, Channels: 1},
		{Codec: "opus", Timescale: 96000, SampleRate: 48000, Channels: 1},
	} {
		if _, err := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{Audio: &p}); !errors.Is(err, ErrBadParams) {
			t.Fatalf("%+v: %v", p, err)
		}
	}
	v, _ := NewWriter(&buf, TrackParams{SPS: c.SPS, PPS: c.PPS}, WriterOptions{})
	if err := v.WriteAudio(AudioSample{DTS: 1, Duration: 1, Data: pkt}); !errors.Is(err, ErrBadSample) {
		t.Fatalf("audio into a video-only segment: %v", err)
	}
}

// TestScanAudio: Scan reads back the audio track nvr writes (AAC, Opus,
// FLAC): its parameters as given, every sample at the time it was written
// (a lost frame is a gap), its bytes where the index says; the sample
// index (version 2) keeps all of it; a torn tail loses audio and video of
// the torn fragment alike.
func TestScanAudio(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	seconds := float64(len(c.Frames)*frameDuration)/Timescale + 0.5
	for _, ac := range audioCases(t, seconds) {
		t.Run(ac.name, func(t *testing.T) {
			lost := map[int]bool{5: true, 6: true}
			b, st := writeAV(t, c, ac, lost)
			info := scanBytes(t, b)
			a := info.Audio
			if a == nil {
				t.Fatal("no audio track scanned")
			}
			if !reflect.DeepEqual(a.Params, ac.params) {
				t.Fatalf("audio params %+v, want %+v", a.Params, ac.params)
			}
			if int64(len(a.Samples)) != st.AudioFrames {
				t.Fatalf("%d audio samples, %d written", len(a.Samples), st.AudioFrames)
			}
			var dur int64
			j := 0
			for i := 0; j < len(a.Samples); i++ {
				if lost[i] {
					continue
				}
				s := a.Samples[j]
				if s.DTS != int64(i)*ac.dur || !s.Keyframe || !bytes.Equal(b[s.Offset:s.Offset+int64(s.Size)], ac.frames[i]) {
					t.Fatalf("audio sample %d (frame %d): %+v, want DTS %d and its bytes", j, i, s, int64(i)*ac.dur)
				}
				dur += int64(s.Duration)
				j++
			}
			if dur != a.Duration {
				t.Fatalf("audio duration %d, samples sum to %d", a.Duration, dur)
			}
			idx, err := info.MarshalIndex()
			if err != nil {
				t.Fatal(err)
			}
			if idx[0] != 2 {
				t.Fatalf("index version %d with audio, want 2", idx[0])
			}
			got, err := ParseIndex(idx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, info) {
				t.Fatalf("index round trip differs:\n got %+v\nwant %+v", got.Audio.Params, info.Audio.Params)
			}
			for n := 0; n < len(idx); n += 7 {
				if _, err := ParseIndex(idx[:n]); !errors.Is(err, ErrBadIndex) {
					t.Fatalf("index cut to %d of %d: %v", n, len(idx), err)
				}
			}
			// Torn inside the last fragment: both tracks end at the one before.
			ends := fragmentEnds(t, b)
			torn := scanBytes(t, b[:ends[len(ends)-1]-3])
			if torn.ValidSize != int64(ends[len(ends)-2]) || torn.Audio == nil || len(torn.Audio.Samples) >= len(a.Samples) || len(torn.Audio.Samples) == 0 {
				t.Fatalf("torn: valid %d (want %d), audio %+v", torn.ValidSize, ends[len(ends)-2], torn.Audio)
			}
			for _, s := range torn.Audio.Samples {
				if s.Offset+int64(s.Size) > torn.ValidSize {
					t.Fatalf("torn scan keeps audio at %d past %d", s.Offset, torn.ValidSize)
				}
			}
		})
	}
}

// TestIndexVersion1: an index written before audio (version 1, no audio
// flag) still parses, and a segment without audio is still written as
// version 1; a version 1 index claiming audio is refused.
func TestIndexVersion1(t *testing.T) {
	old, err := os.ReadFile("testdata/index_v1.bin") // written by the version 1 code
	if err != nil {
		t.Fatal(err)
	}
	seg, err := os.ReadFile("testdata/golden_tiny.mp4")
	if err != nil {
		t.Fatal(err)
	}
	want := scanBytes(t, seg)
	got, err := ParseIndex(old)
	if err != nil {
		t.Fatal(err)
	}
	if got.Audio != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("version 1 index: %+v, want %+v", got, want)
	}
	idx, err := want.MarshalIndex()
	if err != nil || !bytes.Equal(idx, old) {
		t.Fatalf("segment without audio not written as the same version 1 index (%v)", err)
	}
	bad := bytes.Clone(old)
	bad[1] |= indexHasAudio
	if _, err := ParseIndex(bad); !errors.Is(err, ErrBadIndex) {
		t.Fatalf("version 1 with the audio flag: %v", err)
	}
}
