package audio

import (
	"errors"
	"testing"
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
				if tr.Format != nil {
					t.Fatalf("format %+v before any packet", tr.Format)
				}
				return
			}
			f := tr.Format
			if f == nil || f.Codec != c.want || f.SampleRate != c.rate || f.Channels != c.chs || f.ClockRate != c.clock {
				t.Fatalf("format %+v", f)
			}
			if (f.AAC != nil) != (c.want == "mp4a.40.2") || (f.FLAC != nil) != (c.want == "flac") || f.Opus != (c.want == "opus") {
				t.Fatalf("format kind %+v", f)
			}
		})
	}
}
