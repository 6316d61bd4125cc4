package recorder

import (
	"context"
	"errors"
	"strings"

	"github.com/pion/rtp"
	"io"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// audioLog wraps real fmp4 writers and remembers, per segment, its audio
// track and the audio it accepted.
type audioLog struct {
	formats []*fmp4.AudioParams
	writers []*fmp4.Writer
	dts     [][]int64
}

type loggedWriter struct {
	*fmp4.Writer
	log *audioLog
	i   int
}

func (w *loggedWriter) WriteAudio(s fmp4.AudioSample) error {
	err := w.Writer.WriteAudio(s)
	if err == nil {
		w.log.dts[w.i] = append(w.log.dts[w.i], s.DTS)
	}
	return err
}

func (l *audioLog) newWriter(w io.Writer, p fmp4.TrackParams, opts fmp4.WriterOptions) (SegmentWriter, error) {
	fw, err := fmp4.NewWriter(w, p, opts)
	if err != nil {
		return nil, err
	}
	l.formats = append(l.formats, opts.Audio)
	l.writers = append(l.writers, fw)
	l.dts = append(l.dts, nil)
	return &loggedWriter{Writer: fw, log: l, i: len(l.dts) - 1}, nil
}

// TestSegmenterAudio: audio frames go into the segment of their time,
// those past a cut are carried into the next segment (each frame written
// exactly once), a lost frame leaves a gap of its length without moving
// the frames after it, and a new audio format cuts the segment at the
// next keyframe with the new sample entry.
func TestSegmenterAudio(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240) // GOP 1 s, 2 s
	ps := clipParams(t, c)
	f1 := mustTrack(t, "PCMU").Format()
	f2 := mustTrack(t, "PCMA").Format()
	store, log, rep := newFakeStore(t), &audioLog{}, &reportLog{}
	s := newSegmenter(segmenterDeps{
		Camera: "aud", SegmentDuration: 1500 * time.Millisecond, FragmentDuration: 500 * time.Millisecond, FsyncInterval: time.Hour,
		Store: store, NewWriter: log.newWriter, Scan: fmp4.Scan,
		Report: rep, Audio: f1,
	})
	const frame = 160              // 20 ms at 8 kHz
	const lost = 56 * frame        // t = 1.12 s: one lost frame
	change := 2*c.Duration + 18000 // t = 4.2 s (90 kHz): the camera's audio format changes
	next := int64(0)               // next audio time, 8 kHz
	fed := map[int64]*audio.Format{}
	base := c.Frames[0].DTS
	for l := int64(0); l < 3; l++ {
		for _, f := range c.Frames {
			it := item(f, ps, l*c.Duration-base, t0.Add(time.Duration(f.DTS-base+l*c.Duration)*time.Second/90000))
			for next*90000/8000 <= it.dts {
				format := f1
				if next*90000/8000 >= change {
					format = f2
				}
				if next != lost {
					s.handleAudio(&auItem{audio: format, pts: next, dts: next, dur: frame, data: []byte{1, 2, 3, 4}, size: 4})
					fed[next] = format
				}
				next += frame
			}
			if err := s.handle(it); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.endRun(); err != nil {
		t.Fatal(err)
	}
	rows := store.segments()
	if len(rows) != 4 {
		t.Fatalf("%d segments, want 4 (0-2 s, 2-4 s, 4-5 s cut by the format change, 5-6 s)", len(rows))
	}
	seen := map[int64]int{}
	for i, ap := range log.formats {
		st := log.writers[i].Stats()
		if ap == nil || ap.Codec != "flac" || ap.FLACBlockSize != 160 {
			t.Fatalf("segment %d audio %+v", i, ap)
		}
		if rows[i].Codecs != rows[i].Codecs[:len(rows[i].Codecs)-5]+",flac" {
			t.Errorf("segment %d codecs %q", i, rows[i].Codecs)
		}
		first, end := st.FirstDTS*8000/90000, st.EndDTS*8000/90000
		t.Logf("segment %d: video %d-%d, %d audio in fragments, %d dropped", i, first, end, st.AudioFrames, st.AudioDropped)
		var n int64
		for _, d := range log.dts[i] {
			if d >= first && d < end {
				seen[d]++
				n++
				if i == 2 && fed[d] != f1 || i == 3 && fed[d] != f2 {
					t.Errorf("segment %d holds audio at %d of the other format", i, d)
				}
			}
		}
		if n != st.AudioFrames {
			t.Errorf("segment %d: %d audio frames in its span, %d written", i, n, st.AudioFrames)
		}
	}
	if got := log.writers[3].Stats().FirstDTS; got != 2*c.Duration+90000 {
		t.Errorf("the format change cut at %d, want the next keyframe %d", got, 2*c.Duration+90000)
	}
	// Every frame of the first format up to the change, in exactly one
	// segment; the lost one in none, its neighbours on their own times.
	for d, f := range fed {
		if f == f1 && d*90000/8000 < change && seen[d] != 1 {
			t.Errorf("audio at %d written %d times", d, seen[d])
		}
	}
	if seen[lost] != 0 || seen[lost-frame] != 1 || seen[lost+frame] != 1 {
		t.Errorf("around the lost frame: %d %d %d", seen[lost-frame], seen[lost], seen[lost+frame])
	}
}

func mustTrack(t *testing.T, codec string) *audio.Track {
	t.Helper()
	at, err := audio.NewTrack(codec, 8000, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestAVSync: RTP-Info relates the clocks exactly, across a 32-bit wrap
// of either timestamp; without it the first audio frame plays when it
// arrives; later frames keep their RTP times.
func TestAVSync(t *testing.T) {
	// Video RTP 4294967000 and audio 100 are the same instant; the
	// video's extended PTS went past the wrap.
	s := newAVSync(8000, &rtsp.RTPInfoTimes{Video: 4294967000, Audio: 100}, nil)
	if _, ok := s.place(500, 160, 0); ok {
		t.Fatal("audio placed before any video")
	}
	vExt := int64(4294967000) + 90000 // one second later, after the wrap
	s.video(vExt, 0)
	got, ok := s.place(100+8000, 160, 0) // one second after the reference
	want := (int64(4294967000)+90000)*8000/90000 + 0
	if !ok || got != want {
		t.Fatalf("placed %d %v, want %d", got, ok, want)
	}
	// A gap of 3 frames later: exactly 3 frames further, no shift.
	got2, _ := s.place(100+8000+4*160, 160, 0)
	if got2-got != 4*160 {
		t.Fatalf("after a gap: %d, want %d", got2-got, 4*160)
	}

	// No RTP-Info: the frame arriving 40 ms after a picture plays 40 ms
	// after it.
	s = newAVSync(48000, nil, nil)
	s.video(900000, 1_000_000_000)
	got, ok = s.place(123456, 960, 1_040_000_000)
	if want := (900000 + 3600) * 48000 / 90000; !ok || got != int64(want) {
		t.Fatalf("first-packet sync: %d %v, want %d", got, ok, want)
	}
	if got2, _ := s.place(123456+960, 960, 2_000_000_000); got2 != got+960 {
		t.Fatalf("the second frame moved with its arrival: %d, want %d", got2, got+960)
	}
}

// avSession is a fakeSession that also has an audio track: PCMU packets
// of 20 ms, interleaved with the video by time.
type avSession struct {
	*fakeSession
	audio []*rtp.Packet
}

func (s *avSession) ReadTracks(ctx context.Context, fn func(rtsp.TrackKind, *rtp.Packet) error) error {
	ai := 0
	v0 := s.packets[0].Timestamp
	for _, p := range s.packets {
		for ai < len(s.audio) && int64(s.audio[ai].Timestamp-s.audio[0].Timestamp)*90000/8000 <= int64(p.Timestamp-v0) {
			if err := fn(rtsp.TrackAudio, s.audio[ai]); err != nil {
				return err
			}
			ai++
		}
		if err := fn(rtsp.TrackVideo, p); err != nil {
			return err
		}
	}
	return s.end
}

func pcmuPackets(n int) []*rtp.Packet {
	out := make([]*rtp.Packet, n)
	for i := range out {
		payload := make([]byte, 160)
		for k := range payload {
			payload[k] = byte(k)
		}
		out[i] = &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(7000 + i),
			Timestamp: uint32(0xfffff000 + 160*i), SSRC: 0x5678}, Payload: payload}
	}
	return out
}

// TestJobAudio: a job records the camera's audio beside the video and
// names its codec in Status; with audio off, or a codec nvr does not
// record, it records the video alone and says why.
func TestJobAudio(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	pcmu := rtsp.Track{Type: "audio", Codec: "PCMU", ClockRate: 8000, PayloadType: 0, Control: "rtsp://h/a"}
	g726 := rtsp.Track{Type: "audio", Codec: "G726-32", ClockRate: 8000, PayloadType: 97, Control: "rtsp://h/a"}
	for _, tc := range []struct {
		name    string
		noAudio bool
		track   rtsp.Track
		setUp   bool
		codec   string
		note    string
	}{
		{"pcmu", false, pcmu, true, "flac", ""},
		{"off", true, pcmu, true, "", "audio: false"},
		{"g726", false, g726, false, "", "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := rtsp.Info{Tracks: []rtsp.Track{{Type: "video", Codec: "H264"}, tc.track}}
			if tc.setUp {
				a := tc.track
				info.Audio = &a
			}
			sess := &avSession{fakeSession: &fakeSession{info: info, packets: packetize(c, 2, 1400), end: errors.New("camera closed"), closed: make(chan struct{})},
				audio: pcmuPackets(200)}
			store, log := newFakeStore(t), &audioLog{}
			j, err := NewJob(Config{Camera: "av", RTSP: rtsp.Config{URL: "rtsp://h/"}, NoAudio: tc.noAudio, MinBackoff: time.Hour, MaxBackoff: time.Hour},
				Deps{Store: store, Open: func(context.Context, rtsp.Config) (Session, error) { return sess, nil },
					NewWriter: log.newWriter, Scan: fmp4.Scan, Clock: newFakeClock(), Rand: func() float64 { return 0.5 }})
			if err != nil {
				t.Fatal(err)
			}
			if (j.Config().RTSP.AudioTrack != nil) == tc.noAudio {
				t.Fatalf("AudioTrack set %v with NoAudio %v", j.Config().RTSP.AudioTrack != nil, tc.noAudio)
			}
			stop := startJob(t, j)
			waitFor(t, "the session to end", func() bool { return j.Status().State == StateRetrying })
			stop()
			st := j.Status()
			if st.AudioCodec != tc.codec || !strings.Contains(st.AudioNote, tc.note) || (tc.note == "") != (st.AudioNote == "") {
				t.Fatalf("audio %q note %q, want %q / %q", st.AudioCodec, st.AudioNote, tc.codec, tc.note)
			}
			rows := store.segments()
			if len(rows) == 0 || st.Frames != uint64(2*len(c.Frames)) {
				t.Fatalf("%d segments, %d frames: the video must record regardless", len(rows), st.Frames)
			}
			var audioFrames int64
			for i, w := range log.writers {
				audioFrames += w.Stats().AudioFrames
				if hasAudio := strings.HasSuffix(rows[i].Codecs, ",flac"); hasAudio != (tc.codec != "") {
					t.Errorf("segment %d codecs %q", i, rows[i].Codecs)
				}
			}
			if tc.codec != "" && audioFrames < 150 || tc.codec == "" && audioFrames != 0 {
				t.Errorf("%d audio frames written", audioFrames)
			}
			t.Logf("audio %q %q: %d audio frames in %d segments, %d dropped", st.AudioCodec, st.AudioNote, audioFrames, len(rows), st.AudioDropped)
		})
	}
}
