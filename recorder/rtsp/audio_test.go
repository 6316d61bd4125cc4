package rtsp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func wantAlaw(t Track) bool { return t.Codec == "PCMA" }

// readBoth reads until nv video and na audio packets have arrived (or
// 5 s).
func readBoth(t *testing.T, s *Session, nv, na int) (video, audio int, audioPT uint8, audioLen int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := errors.New("done")
	err := s.ReadTracks(ctx, func(k TrackKind, p *rtp.Packet) error {
		switch k {
		case TrackVideo:
			video++
		case TrackAudio:
			audio++
			audioPT, audioLen = p.PayloadType, len(p.Payload)
		}
		if video >= nv && audio >= na {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadTracks: %v", err)
	}
	return video, audio, audioPT, audioLen
}

// TestAudioTrackGortsplib: against gortsplib's server (H.264 + G.711
// A-law), the audio track is set up on interleaved channels 2-3, or over
// UDP on a port pair of its own, and its packets arrive tagged as audio,
// next to the video's.
func TestAudioTrackGortsplib(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) { testAudioTrackGortsplib(t, transport) })
	}
}

func testAudioTrackGortsplib(t *testing.T, transport string) {
	srv := startRefServerWith(t, refOptions{audio: true})
	s, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam", AudioTrack: wantAlaw, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Audio == nil || info.Audio.Codec != "PCMA" || info.Audio.ClockRate != 8000 || info.Audio.Channels != 0 /* "PCMA/8000": none given */ || info.AudioErr != "" {
		t.Fatalf("audio %+v, err %q", info.Audio, info.AudioErr)
	}
	v, a, pt, size := readBoth(t, s, 20, 20)
	if v < 20 || a < 20 || pt != 8 || size != 160 {
		t.Fatalf("%d video, %d audio packets (pt %d, %d bytes)", v, a, pt, size)
	}
	st := s.Stats()
	if st.AudioPackets < 20 || st.DroppedUnknownChannel != 0 || st.DroppedAudio != 0 {
		t.Fatalf("stats %+v", st)
	}
	if srv.count("SETUP") != 2 {
		t.Fatalf("%d SETUPs", srv.count("SETUP"))
	}
	// ReadPackets, the video-only reader, skips the audio.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := 0
	_ = s.ReadPackets(ctx, func(p *rtp.Packet) error {
		if p.PayloadType != 96 {
			t.Fatalf("ReadPackets gave pt %d", p.PayloadType)
		}
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
}

// TestAudioProblemsKeepVideo: a refused audio SETUP (over TCP or UDP), or
// no audio wanted: the video records and Info says why there is no audio.
func TestAudioProblemsKeepVideo(t *testing.T) {
	cases := []struct {
		name    string
		opts    refOptions
		cfg     Config
		wantErr string
		setups  int
	}{
		{"refused", refOptions{audio: true, refuseAudio: true}, Config{AudioTrack: wantAlaw}, "461", 2},
		{"refused over udp", refOptions{audio: true, refuseAudio: true}, Config{AudioTrack: wantAlaw, Transport: "udp"}, "461", 2},
		{"not wanted", refOptions{audio: true}, Config{}, "", 1},
		{"unknown codec", refOptions{audio: true}, Config{AudioTrack: func(Track) bool { return false }}, "", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startRefServerWith(t, c.opts)
			c.cfg.URL = "rtsp://" + srv.addr + "/cam"
			s, err := Open(context.Background(), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			info := s.Info()
			if info.Audio != nil || !strings.Contains(info.AudioErr, c.wantErr) || (c.wantErr == "") != (info.AudioErr == "") {
				t.Fatalf("audio %+v, err %q", info.Audio, info.AudioErr)
			}
			// A second of video (10 ms ticks): any audio would have come.
			v, a, _, _ := readBoth(t, s, 100, 0)
			if v < 10 || a != 0 {
				t.Fatalf("%d video, %d audio packets", v, a)
			}
			if srv.count("SETUP") != c.setups {
				t.Fatalf("%d SETUPs, want %d", srv.count("SETUP"), c.setups)
			}
		})
	}
}

func TestRtpmapChannels(t *testing.T) {
	for v, want := range map[string]int{"opus/48000/2": 2, "PCMU/8000": 0, "L16/8000/1": 1, "x/1/99": 0, "x/1/ 2": 2, "x/1/a": 0} {
		if got := rtpmapChannels(v); got != want {
			t.Fatalf("%q: %d, want %d", v, got, want)
		}
	}
}
