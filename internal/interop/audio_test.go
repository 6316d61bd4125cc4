package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/h264"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// needGstElements skips (fails under CI) unless GStreamer has elements.
func needGstElements(t *testing.T, py string, elems ...string) {
	t.Helper()
	check := "import gi; gi.require_version('Gst','1.0')\nfrom gi.repository import Gst\nGst.init(None)\n"
	for _, e := range elems {
		check += "assert Gst.ElementFactory.find('" + e + "'), '" + e + "'\n"
	}
	if out, err := exec.Command(py, "-c", check).CombinedOutput(); err != nil {
		missing(t, "GStreamer elements "+lastLine(string(out)))
	}
}

// TestGstAudio records H.264 with the audio of each of GStreamer's
// payloaders (AAC as RFC 3640 and as LATM, G.711 µ-law and A-law, Opus):
// our RTSP client sets up both tracks, recorder/audio depacketizes the
// audio (G.711 into FLAC), fmp4 writes one segment with both tracks, and
// ffmpeg decodes it: both streams, the audio in its MP4 form, no errors,
// and the audio's length near the video's.
func TestGstAudio(t *testing.T) {
	py := needGst(t)
	for _, c := range []struct {
		audio, codec string
		elems        []string
	}{
		{"aac", "aac", []string{"voaacenc", "rtpmp4gpay"}},
		{"aac-latm", "aac", []string{"voaacenc", "rtpmp4apay"}},
		{"pcmu", "flac", []string{"mulawenc", "rtppcmupay"}},
		{"pcma", "flac", []string{"alawenc", "rtppcmapay"}},
		{"opus", "opus", []string{"opusenc", "rtpopuspay"}},
	} {
		t.Run(c.audio, func(t *testing.T) {
			needGstElements(t, py, append([]string{"audiotestsrc"}, c.elems...)...)
			g := startGst(t, gstOptions{Width: 320, Height: 180, FPS: 15, Keyint: 15, Audio: c.audio})
			path := recordAV(t, g.URL(), 3*time.Second)
			msg, err := exec.Command(needTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
			if err != nil || len(bytes.TrimSpace(msg)) > 0 {
				t.Fatalf("ffmpeg decode: %v %s", err, msg)
			}
			out, err := exec.Command(needTool(t, "ffprobe"), "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "json", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Streams []struct {
					CodecName string `json:"codec_name"`
					Duration  string `json:"duration"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 2 {
				t.Fatalf("ffprobe: %v %s", err, out)
			}
			if p.Streams[0].CodecName != "h264" || p.Streams[1].CodecName != c.codec {
				t.Fatalf("streams %+v, want h264 and %s", p.Streams, c.codec)
			}
			vd, _ := strconv.ParseFloat(p.Streams[0].Duration, 64)
			ad, _ := strconv.ParseFloat(p.Streams[1].Duration, 64)
			if vd < 1 || ad < vd-0.5 || ad > vd+0.5 {
				t.Fatalf("video %.2f s, audio %.2f s", vd, ad)
			}
			// nvr probe lists both tracks and says which it records.
			pout, perr, err := runProbe(t, "-duration", "1s", g.URL())
			if err != nil {
				t.Fatalf("nvr probe: %v: %s", err, perr)
			}
			var pr struct {
				Tracks []struct {
					Type, Codec, Note string
					ClockRate         int `json:"clock_rate"`
					Recorded          bool
				} `json:"tracks"`
			}
			if err := json.Unmarshal([]byte(pout), &pr); err != nil || len(pr.Tracks) != 2 {
				t.Fatalf("probe output (%v): %s", err, pout)
			}
			v, a := pr.Tracks[0], pr.Tracks[1]
			if v.Type != "video" || !v.Recorded || a.Type != "audio" || !a.Recorded || a.ClockRate == 0 ||
				!strings.Contains(a.Note, "audio nvr can read") {
				t.Fatalf("probe tracks %+v", pr.Tracks)
			}
			if c.audio != "aac-latm" && !strings.Contains(a.Note, "(as "+map[string]string{"aac": "mp4a.40.2", "flac": "flac", "opus": "opus"}[c.codec]+")") {
				t.Fatalf("probe's audio note %q does not name %s", a.Note, c.codec)
			}
		})
	}
}

// recordAV records url for d into one segment with both tracks. The audio
// is placed on the video's timeline by its first frame: that frame plays
// at the time of the video frame that arrived just before it (lip sync
// from RTCP is not part of this test).
func recordAV(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	pick := func(tr rtsp.Track) bool {
		_, err := audio.NewTrack(tr.Codec, tr.ClockRate, tr.Channels, tr.Fmtp)
		return err == nil
	}
	s, err := rtsp.Open(ctx, rtsp.Config{URL: url, AudioTrack: pick})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Audio == nil {
		t.Fatalf("no audio track set up (%q) among %+v", info.AudioErr, info.Tracks)
	}
	at, err := audio.NewTrack(info.Audio.Codec, info.Audio.ClockRate, info.Audio.Channels, info.Audio.Fmtp)
	if err != nil {
		t.Fatal(err)
	}
	sps, pps := h264.ParseSprop(info.Video.SpropParameterSets)
	dep := h264.NewDepacketizer(sps, pps)

	var buf bytes.Buffer
	var w *fmp4.Writer
	var vBase, lastVideo int64 = -1, 0
	var aOffset int64
	var haveA bool
	var werr error
	deadline := time.Now().Add(d)
	done := errors.New("done")
	err = s.ReadTracks(ctx, func(k rtsp.TrackKind, p *rtp.Packet) error {
		if werr != nil {
			return werr
		}
		switch k {
		case rtsp.TrackVideo:
			_ = dep.Push(p, func(au *h264.AccessUnit) {
				if w == nil {
					f := at.Format()
					if f == nil || !au.Keyframe {
						return
					}
					ap := fmp4.AudioParams{Codec: f.Codec, Timescale: f.ClockRate, SampleRate: f.SampleRate, Channels: f.Channels}
					if f.AAC != nil {
						ap.AACConfig, ap.AACObjectType = f.AAC.Raw, f.AAC.ObjectType
					}
					if f.FLAC != nil {
						ap.FLACBlockSize = f.FLAC.BlockSize
					}
					w, werr = fmp4.NewWriter(&buf, fmp4.TrackParams{SPS: au.SPS, PPS: au.PPS}, fmp4.WriterOptions{Audio: &ap})
					if werr != nil {
						return
					}
					vBase = au.DTS
				}
				lastVideo = au.DTS - vBase
				werr = w.WriteSample(fmp4.Sample{NALUs: au.NALUs, DTS: au.DTS - vBase, PTS: au.PTS - vBase, Keyframe: au.Keyframe})
			})
		case rtsp.TrackAudio:
			_ = at.Push(p, func(f *audio.Frame) {
				if w == nil {
					return
				}
				rate := int64(at.Format().ClockRate)
				if !haveA {
					haveA, aOffset = true, lastVideo*rate/fmp4.Timescale-f.PTS
				}
				if e := w.WriteAudio(fmp4.AudioSample{DTS: f.PTS + aOffset, Duration: f.Duration, Data: f.Data}); e != nil {
					t.Logf("audio frame: %v", e)
				}
			})
		}
		if time.Now().After(deadline) {
			return done
		}
		return werr
	})
	if !errors.Is(err, done) {
		t.Fatalf("read: %v (writer %v)", err, werr)
	}
	if w == nil {
		t.Fatal("no keyframe")
	}
	if err := w.Close(lastVideo + fmp4.Timescale/15); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("%d video frames, %d audio frames (%d dropped), %d bytes", st.Frames, st.AudioFrames, st.AudioDropped, st.Bytes)
	if st.AudioFrames < 10 {
		t.Fatalf("%d audio frames written", st.AudioFrames)
	}
	path := filepath.Join(t.TempDir(), "av.mp4")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
