package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nvr-project/nvr/internal/testaudio"
	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// avAudio is real encoded audio for a segment.
type avAudio struct {
	params fmp4.AudioParams
	frames [][]byte
	dur    int64 // per frame, params.Timescale
}

func aacAudio(t *testing.T, seconds float64) avAudio {
	asc, frames := testaudio.AAC(t, 48000, 1, seconds)
	cfg, err := audio.ParseAACConfig(asc)
	if err != nil {
		t.Fatal(err)
	}
	return avAudio{fmp4.AudioParams{Codec: cfg.Codec(), Timescale: 48000, SampleRate: 48000, Channels: 1, AACConfig: cfg.Raw, AACObjectType: cfg.ObjectType}, frames, 1024}
}

func opusAudio(t *testing.T, seconds float64) avAudio {
	return avAudio{fmp4.AudioParams{Codec: audio.CodecOpus, Timescale: 48000, SampleRate: 48000, Channels: 1}, testaudio.Opus(t, 1, seconds), 960}
}

// flacAudio is G.711 turned into FLAC as recorder/audio does it.
func flacAudio(t *testing.T, seconds float64) avAudio {
	ulaw := testaudio.G711(t, "mulaw", seconds)
	g, err := audio.NewG711("PCMU", 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := audio.NewFLACEncoder(8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	emit := func(f *audio.Frame) { frames = append(frames, append([]byte(nil), f.Data...)) }
	for i := 0; i < len(ulaw); i += 160 {
		if err := enc.Push(int64(i), g.Decode(nil, ulaw[i:min(i+160, len(ulaw))]), emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(emit); err != nil {
		t.Fatal(err)
	}
	bs := enc.Info().BlockSize
	return avAudio{fmp4.AudioParams{Codec: audio.CodecFLAC, Timescale: 8000, SampleRate: 8000, Channels: 1, FLACBlockSize: bs}, frames, int64(bs)}
}

// segmentAV writes clip c with audio a (nil: none) as a segment starting
// at wall time startNS, audio interleaved as a camera sends it, and scans it.
func segmentAV(t *testing.T, dir string, c *testcam.Clip, startNS int64, a *avAudio) Input {
	t.Helper()
	p := filepath.Join(dir, strconv.FormatInt(startNS, 10)+"-av.mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	opts := fmp4.WriterOptions{}
	if a != nil {
		ap := a.params
		opts.Audio = &ap
	}
	w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: c.SPS, PPS: c.PPS}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ai := 0
	for _, fr := range c.Frames {
		for a != nil && ai < len(a.frames) && int64(ai)*a.dur*90000/int64(a.params.Timescale) <= fr.DTS-c.Frames[0].DTS {
			ts := c.Frames[0].DTS*int64(a.params.Timescale)/90000 + int64(ai)*a.dur
			if err := w.WriteAudio(fmp4.AudioSample{DTS: ts, Duration: a.dur, Data: a.frames[ai]}); err != nil {
				t.Fatal(err)
			}
			ai++
		}
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
	in := openInput(t, p, startNS)
	if (in.Info.Audio != nil) != (a != nil) {
		t.Fatalf("scanned audio %v, wrote %v", in.Info.Audio != nil, a != nil)
	}
	return in
}

type avProbe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Packets []struct {
		Stream   int    `json:"stream_index"`
		PTS      string `json:"pts_time"`
		Duration string `json:"duration_time"`
	} `json:"packets"`
}

// probeAV decodes every stream of the file (ffmpeg must report nothing)
// and returns ffprobe's streams and packets.
func probeAV(t *testing.T, path string) avProbe {
	t.Helper()
	if msg := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); len(msg) > 0 {
		t.Fatalf("ffmpeg decode: %s", msg)
	}
	var p avProbe
	out := testaudio.Run(t, "ffprobe", "-v", "error", "-show_streams", "-show_packets", "-of", "json", path)
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func f64(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }

// audioSpans returns the times audio packets sound, [pts, pts+frame),
// merged into continuous spans (a step of more than 1 ms splits them). A
// packet's own length is frame: the export stretches the sample before a
// silence to the next one's time, as segments do for a lost frame.
func audioSpans(p avProbe, audioStream int, frame float64) (spans [][2]float64) {
	for _, pk := range p.Packets {
		if pk.Stream != audioStream {
			continue
		}
		s, e := f64(pk.PTS), f64(pk.PTS)+min(f64(pk.Duration), frame)
		if n := len(spans); n > 0 && s-spans[n-1][1] < 0.001 {
			spans[n-1][1] = e
			continue
		}
		spans = append(spans, [2]float64{s, e})
	}
	return spans
}

// TestExportAudio: exports carry the segments' audio (AAC, Opus, FLAC)
// cut to the range and at the same instant as the picture: ffmpeg decodes
// both tracks, the audio spans where footage is with audio, starts within
// 20 ms of the video there, a closed-up gap moves both tracks alike, a
// segment without audio is silent in its time, and a codec change inside
// the range leaves the other codec's segment silent (AudioSkipped).
func TestExportAudio(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240) // 2 s
	segDur := float64(len(c.Frames)*frame90k) / 90000
	seconds := segDur + 0.5
	dir := t.TempDir()
	segNS := int64(segDur * 1e9)
	for _, tc := range []struct {
		name string
		a    avAudio
	}{{"aac", aacAudio(t, seconds)}, {"opus", opusAudio(t, seconds)}, {"flac", flacAudio(t, seconds)}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(dir, tc.name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			// A (audio), B right after it without audio, then a 10 s gap,
			// then C with audio.
			a := segmentAV(t, dir, c, t0, &tc.a)
			b := segmentAV(t, dir, c, t0+segNS, nil)
			cc := segmentAV(t, dir, c, t0+2*segNS+10e9, &tc.a)
			inputs := []Input{a, b, cc}
			// From 0.5 s into A to 1.5 s into C.
			clip, err := New(inputs, Options{StartNS: t0 + 5e8, EndNS: cc.StartNS + 15e8})
			if err != nil {
				t.Fatal(err)
			}
			if !clip.HasAudio() || clip.AudioSkipped() != 0 {
				t.Fatalf("audio %v skipped %d", clip.HasAudio(), clip.AudioSkipped())
			}
			path := filepath.Join(dir, "clip.mp4")
			saveClip(t, clip, path)
			p := probeAV(t, path)
			if os.Getenv("KEEPCLIP") != "" {
				b, _ := os.ReadFile(path)
				os.WriteFile("/tmp/clip-"+tc.name+".mp4", b, 0o644)
			}
			if len(p.Streams) != 2 || p.Streams[0].CodecType != "video" || p.Streams[1].CodecType != "audio" {
				t.Fatalf("streams %+v", p.Streams)
			}
			vDur := float64(clip.Duration()) / 90000
			// Video: A from 0.5 s (its keyframe at 0 is hidden by the edit
			// list), B, then C up to 1.5 s: 1.5 + 2 + 1.5 s.
			if math.Abs(vDur-(segDur-0.5+segDur+1.5)) > 0.05 {
				t.Fatalf("video lasts %.3f s", vDur)
			}
			spans := audioSpans(p, 1, float64(tc.a.dur)/float64(tc.a.params.Timescale))
			t.Logf("video %.3f s, audio spans %v", vDur, spans)
			aEnd := segDur - 0.5    // A's audio, then B's silent time
			cStart := aEnd + segDur // where C is shown
			want := [][2]float64{{0, aEnd}, {cStart, vDur}}
			if len(spans) != 2 {
				t.Fatalf("audio spans %v, want about %v", spans, want)
			}
			for i := range want {
				for j := 0; j < 2; j++ {
					// Within 20 ms, and one audio frame at the cut ends
					// (frames are whole).
					tol := 0.02
					if (i == 0 && j == 1) || (i == 1 && j == 1) {
						tol += float64(tc.a.dur) / float64(tc.a.params.Timescale)
					}
					if math.Abs(spans[i][j]-want[i][j]) > tol {
						t.Fatalf("audio span %d %v, want %v (±%.3f s)", i, spans[i], want[i], tol)
					}
				}
			}
			if aDur := f64(p.Streams[1].Duration); math.Abs(aDur-vDur) > 0.03 {
				t.Fatalf("audio track lasts %.3f s, video %.3f s", aDur, vDur)
			}

			// A codec change: C's audio is other than A's, so its time is
			// silent and the clip says so.
			other := opusAudio(t, seconds)
			if tc.name == "opus" {
				other = aacAudio(t, seconds)
			}
			d := segmentAV(t, dir, c, t0+2*segNS+20e9, &other)
			clip, err = New([]Input{a, d}, Options{StartNS: t0, EndNS: d.EndNS})
			if err != nil {
				t.Fatal(err)
			}
			if clip.AudioSkipped() != 1 {
				t.Fatalf("codec change: %d segments skipped, want 1", clip.AudioSkipped())
			}
			saveClip(t, clip, path)
			p = probeAV(t, path)
			if len(p.Streams) != 2 || p.Streams[1].CodecName != tc.name {
				t.Fatalf("codec change: streams %+v", p.Streams)
			}
			spans = audioSpans(p, 1, float64(tc.a.dur)/float64(tc.a.params.Timescale))
			if len(spans) != 1 || spans[0][0] > 0.02 || math.Abs(spans[0][1]-segDur) > 0.02+float64(tc.a.dur)/float64(tc.a.params.Timescale) {
				t.Fatalf("codec change: audio spans %v, want [0 %.2f]", spans, segDur)
			}
		})
	}
}

// TestExportAudioAtCut: segments cut at a keyframe whose time is not a
// whole audio tick. The recorder puts an audio frame that starts a
// fraction of a tick before the cut into the earlier segment only, where
// the segment's own audio time (its start floored to whole ticks) puts it
// exactly at the segment's end. The export keeps that frame, so the sound
// runs on across the cut without a hole (it left a 20 ms one at every
// segment boundary of the test camera's recordings, and Firefox then
// played the sound of such an export about 200 ms late).
func TestExportAudioAtCut(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240) // 2 s
	a := flacAudio(t, 5)
	dir := t.TempDir()
	n := int64(len(c.Frames))
	const first = 1000 // the first segment's first DTS: 88.9 ticks of 8 kHz
	segLen := n * frame90k
	dur := a.dur
	// Audio frame k starts at 88 + 160k (8 kHz) on the video's timeline.
	at := func(k int) int64 { return 88 + int64(k)*dur }
	write := func(name string, startNS, dts0 int64, kFrom, kTo int) Input {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		ap := a.params
		w, err := fmp4.NewWriter(f, fmp4.TrackParams{SPS: c.SPS, PPS: c.PPS}, fmp4.WriterOptions{Audio: &ap})
		if err != nil {
			t.Fatal(err)
		}
		k := kFrom
		for _, fr := range c.Frames {
			dts := dts0 + fr.DTS - c.Frames[0].DTS
			for ; k < kTo && at(k)*90000/8000 <= dts; k++ {
				if err := w.WriteAudio(fmp4.AudioSample{DTS: at(k), Duration: dur, Data: a.frames[k]}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.WriteSample(fmp4.Sample{NALUs: fr.NALUs, DTS: dts, PTS: dts + fr.PTS - fr.DTS, Keyframe: fr.Keyframe}); err != nil {
				t.Fatal(err)
			}
		}
		for ; k < kTo; k++ {
			if err := w.WriteAudio(fmp4.AudioSample{DTS: at(k), Duration: dur, Data: a.frames[k]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(dts0 + segLen); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return openInput(t, p, startNS)
	}
	// Frame 100 starts at 16088 ticks = 180990 (90 kHz): 10 before the cut
	// at 181000, so it is the first segment's; there its time is 16000
	// ticks after the start (88), its video's end exactly.
	segA := write("a.mp4", t0, first, 0, 101)
	if last := segA.Info.Audio.Samples[len(segA.Info.Audio.Samples)-1]; last.DTS != 16000 {
		t.Fatalf("the first segment's last audio frame at %d, want 16000 (its end)", last.DTS)
	}
	// Frame 100 in the second segment only (as the recorder cuts), or in
	// both (a frame at the cut itself): either way it is in the clip once.
	for _, from := range []int{101, 100} {
		segB := write("b"+strconv.Itoa(from)+".mp4", segA.EndNS, first+segLen, from, 200)
		clip, err := New([]Input{segA, segB}, Options{StartNS: t0, EndNS: segB.EndNS})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "clip"+strconv.Itoa(from)+".mp4")
		b := saveClip(t, clip, path)
		// Exports with audio count movie time in the audio's timescale
		// (Firefox reads an empty edit in the track's own: moov.go).
		if i := bytes.Index(b, []byte("mvhd")); i < 0 || binary.BigEndian.Uint32(b[i+16:]) != 8000 {
			t.Fatalf("the movie timescale is not the audio's 8000")
		}
		p := probeAV(t, path)
		spans := audioSpans(p, 1, 0.02)
		if len(spans) != 1 || spans[0][0] > 0.001 || spans[0][1] < 3.97 {
			t.Fatalf("second segment from frame %d: audio spans %v, want one from 0 to about 3.98 s (no hole at the cut at 2 s)", from, spans)
		}
		n := 0
		for _, pk := range p.Packets {
			if pk.Stream == 1 {
				n++
			}
		}
		if n != 200 {
			t.Fatalf("second segment from frame %d: %d audio frames in the clip, want 200", from, n)
		}
	}
}
