package audio

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtplpcm"

	"github.com/nvr-project/nvr/internal/testaudio"
)

// TestNewTrack: the SDP lines cameras and GStreamer send pick the right
// depacketizer and MP4 form; broken or unknown tracks are refused with
// errors the recorder can tell apart.
func TestNewTrack(t *testing.T) {
	cases := []struct {
		name      string
		codec     string
		clock, ch int
		fmtp      map[string]string
		want      string // Format.Codec, "" for none yet
		rate, chs int
		err       error
	}{
		{"Hikvision AAC", "MPEG4-GENERIC", 16000, 1, map[string]string{"streamtype": "5", "profile-level-id": "15", "mode": "AAC-hbr", "config": "1408", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3"}, "mp4a.40.2", 16000, 1, nil},
		{"GStreamer rtpmp4gpay", "MPEG4-GENERIC", 44100, 2, map[string]string{"streamtype": "5", "profile-level-id": "2", "mode": "AAC-hbr", "config": "1210", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3"}, "mp4a.40.2", 44100, 2, nil},
		{"LATM out of band", "MP4A-LATM", 44100, 2, map[string]string{"cpresent": "0", "config": "400024203fc0"}, "mp4a.40.2", 44100, 2, nil},
		{"LATM in band", "MP4A-LATM", 44100, 2, map[string]string{"cpresent": "1"}, "", 0, 0, nil},
		{"PCMU", "PCMU", 8000, 0, nil, "flac", 8000, 1, nil},
		{"PCMA stereo", "PCMA", 8000, 2, nil, "flac", 8000, 2, nil},
		{"Opus", "OPUS", 48000, 2, map[string]string{"sprop-stereo": "0"}, "opus", 48000, 1, nil},
		{"Opus stereo", "opus", 48000, 2, map[string]string{"sprop-stereo": "1"}, "opus", 48000, 2, nil},
		{"G.726", "G726-32", 8000, 1, nil, "", 0, 0, ErrUnsupported},
		{"PCMU 16k", "PCMU", 16000, 1, nil, "", 0, 0, ErrUnsupported},
		{"clock 0", "PCMA", 0, 1, nil, "", 0, 0, ErrMalformed},
		{"AAC without config", "MPEG4-GENERIC", 44100, 2, map[string]string{"sizelength": "13"}, "", 0, 0, ErrMalformed},
		{"AAC bad config", "MPEG4-GENERIC", 44100, 2, map[string]string{"config": "12", "sizelength": "13"}, "", 0, 0, ErrMalformed},
		{"CELP mode", "MPEG4-GENERIC", 44100, 2, map[string]string{"mode": "CELP-cbr", "config": "1210", "sizelength": "13"}, "", 0, 0, ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewTrack(c.codec, c.clock, c.ch, c.fmtp)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if tr.Format() != nil {
					t.Fatalf("format %+v before any packet", tr.Format())
				}
				return
			}
			f := tr.Format()
			if f == nil || f.Codec != c.want || f.SampleRate != c.rate || f.Channels != c.chs || f.ClockRate != c.clock {
				t.Fatalf("format %+v", f)
			}
			if (f.AAC != nil) != (c.want == "mp4a.40.2") || (f.FLAC != nil) != (c.want == "flac") || f.Opus != (c.want == "opus") {
				t.Fatalf("format kind %+v", f)
			}
		})
	}
}

// TestTrackG711 runs the whole G.711 path on what gortsplib's G.711
// packetizer makes of ffmpeg's µ-law: packets of 40 ms, one lost. ffmpeg
// decodes the FLAC frames to ffmpeg's own decode of the µ-law, with
// silence exactly where the lost packet was.
func TestTrackG711(t *testing.T) {
	ulaw := testaudio.G711(t, "mulaw", 1)
	want := testaudio.Run(t, "ffmpeg", "-nostdin", "-v", "error", "-f", "mulaw", "-ar", "8000", "-ac", "1", "-i", writeTemp(t, ulaw), "-f", "s16le", "-")
	e := &rtplpcm.Encoder{PayloadType: 0, BitDepth: 8, ChannelCount: 1, PayloadMaxSize: 320} // 40 ms per packet
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	pkts, err := e.Encode(ulaw)
	if err != nil {
		t.Fatal(err)
	}
	var ts uint32 = 123456
	for _, p := range pkts {
		p.Timestamp = ts
		ts += uint32(len(p.Payload))
	}
	const lost = 7
	lostAt := pkts[lost].Timestamp - pkts[0].Timestamp
	lostLen := len(pkts[lost].Payload)
	pkts = append(pkts[:lost], pkts[lost+1:]...)

	tr, err := NewTrack("PCMU", 8000, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var next int64 = -1
	emit := func(f *Frame) {
		if next >= 0 && f.PTS != next {
			t.Fatalf("FLAC frame at %d, want %d", f.PTS, next)
		}
		next = f.PTS + f.Duration
		frames = append(frames, append([]byte(nil), f.Data...))
	}
	for _, p := range pkts {
		if err := tr.Push(p, emit); err != nil && !errors.Is(err, ErrPacketLoss) {
			t.Fatal(err)
		}
	}
	if err := tr.Reset(emit); err != nil {
		t.Fatal(err)
	}
	got := ffmpegFLAC(t, *tr.Format().FLAC, frames)
	exp := make([]int16, len(want)/2)
	for i := range exp {
		exp[i] = int16(binary.LittleEndian.Uint16(want[2*i:]))
	}
	for i := int(lostAt); i < int(lostAt)+lostLen; i++ {
		exp[i] = 0
	}
	if len(got) < len(exp) || len(got)-len(exp) >= 160 {
		t.Fatalf("%d samples decoded, want %d (+ padding)", len(got), len(exp))
	}
	for i := range exp {
		if got[i] != exp[i] {
			t.Fatalf("sample %d: %d, want %d (lost packet at %d)", i, got[i], exp[i], lostAt)
		}
	}
	if tr.Stats().Lost != 1 {
		t.Fatalf("stats %+v", tr.Stats())
	}
}

// TestTrackLATMInBand: the format appears with the first in-band config
// and keeps its pointer while the config stays the same.
func TestTrackLATMInBand(t *testing.T) {
	tr, err := NewTrack("MP4A-LATM", 44100, 2, map[string]string{"cpresent": "1"})
	if err != nil {
		t.Fatal(err)
	}
	pkts, _ := latmPackets(t, true, aus(6, 100), 1450)
	var first *Format
	n := 0
	for _, p := range pkts {
		if err := tr.Push(p, func(*Frame) { n++ }); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = tr.Format()
		}
		if tr.Format() != first {
			t.Fatal("format pointer changed without a config change")
		}
	}
	if first == nil || first.Codec != "mp4a.40.2" || first.SampleRate != 44100 || n != 6 {
		t.Fatalf("format %+v, %d frames", first, n)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
