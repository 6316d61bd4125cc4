package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/ticks"
)

const probeHelp = `usage: nvr probe [flags] rtsp[s]://[user:pass@]host[:port]/path
       nvr probe [flags] -config nvr.yaml -camera ID

Connects to a camera, reads its H.264 or H.265 stream for a while and prints
one JSON object describing it, with every track of the camera and whether
nvr records it. On failure it prints one line saying what went wrong
(and during which step) and exits non-zero. Passwords are never printed.
For rtsps:// an untrusted certificate fails with its fingerprint, which
-tls-fingerprint (and a camera's tls_fingerprint in the config) pins.
With -camera, the camera of the config is probed as nvr serve connects to
it: its URL with username and password, transport, auth, tls_fingerprint
and sdp (flags given as well override them).`

// probeExtraWait bounds how long probe reads beyond -duration while it
// waits for the first keyframe and for a second one to measure the GOP.
const probeExtraWait = 15 * time.Second

// errProbeDone stops the read loop once enough was seen.
var errProbeDone = errors.New("probe: enough media")

// probeResult is the JSON that nvr probe prints.
type probeResult struct {
	URL            string       `json:"url"`
	Server         string       `json:"server,omitempty"`
	Methods        []string     `json:"methods,omitempty"`
	Transport      string       `json:"transport"`
	TLSFingerprint string       `json:"tls_fingerprint,omitempty"` // rtsps: the certificate connected to
	Tracks         []probeTrack `json:"tracks"`
	DurationS      float64      `json:"duration_s"`
	Frames         uint64       `json:"frames"`
	Keyframes      uint64       `json:"keyframes"`
	FPS            float64      `json:"fps"`
	GOPS           float64      `json:"gop_s"`
	BitrateBPS     int64        `json:"bitrate_bps"`
	Packets        uint64       `json:"packets"`
	Lost           uint64       `json:"lost_packets"`
}

type probeTrack struct {
	Type      string `json:"type"`
	Codec     string `json:"codec"`
	Profile   string `json:"profile,omitempty"`
	Tier      string `json:"tier,omitempty"` // H.265 only
	Level     string `json:"level,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	ClockRate int    `json:"clock_rate,omitempty"`
	Channels  int    `json:"channels,omitempty"`
	Control   string `json:"control,omitempty"`
	// Recorded says whether nvr records the track; Note says why not.
	Recorded bool   `json:"recorded"`
	Note     string `json:"note,omitempty"`
}

// audioNote says what nvr makes of an audio track: whether its
// depacketizers read it, and as what. ok is false when they do not.
func audioNote(t rtsp.Track) (note string, ok bool) {
	tr, err := audio.NewTrack(t.Codec, t.ClockRate, t.Channels, t.Fmtp)
	if err != nil {
		return "nvr cannot read this audio: " + err.Error(), false
	}
	as := "audio nvr can read"
	if f := tr.Format(); f != nil {
		as += " (as " + f.Codec + ")"
	}
	return as, true
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", probeHelp, stdout, stderr)
	transport := fs.String("transport", "tcp", "RTP transport: tcp (interleaved) or udp")
	duration := fs.Duration("duration", 5*time.Second, "how long to read the stream")
	sdpSrc := fs.String("sdp", "", "out-of-band SDP (file or http URL) used instead of DESCRIBE")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline for connecting and for each response; also the no-media timeout")
	skipOptions := fs.Bool("skip-options", false, "do not send OPTIONS")
	fingerprint := fs.String("tls-fingerprint", "", "rtsps: accept only the certificate with this SHA-256 fingerprint (sha256:…)")
	auth := fs.String("auth", rtsp.AuthAny, "authentication: any (strongest offered) or digest (refuse Basic)")
	cfgPath := fs.String("config", "nvr.yaml", "config file, with -camera")
	camera := fs.String("camera", "", "probe this camera of the config instead of a URL")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rawURL := fs.Arg(0)
	if *camera != "" {
		if fs.NArg() != 0 {
			fmt.Fprint(fs.Output(), "give a camera URL or -camera, not both\n\n")
			fs.Usage()
			return errUsage
		}
		cc, err := configuredCamera(*cfgPath, *camera)
		if err != nil {
			return err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		rawURL = cc.URL
		if !set["transport"] {
			*transport = cc.Transport
		}
		if !set["auth"] && cc.Auth != "" {
			*auth = cc.Auth
		}
		if !set["tls-fingerprint"] {
			*fingerprint = cc.TLSFingerprint
		}
		if !set["sdp"] {
			*sdpSrc = cc.SDP
		}
	} else if fs.NArg() != 1 {
		if fs.NArg() == 0 {
			fmt.Fprint(fs.Output(), "a camera URL is required\n\n")
		} else {
			fmt.Fprintf(fs.Output(), "want one camera URL, got %d arguments (flags go before the URL)\n\n", fs.NArg())
		}
		fs.Usage()
		return errUsage
	}
	if *duration <= 0 || *duration > 24*time.Hour {
		return fmt.Errorf("-duration must be between 0 and 24h")
	}
	cfg := rtsp.Config{
		URL:             rawURL,
		Transport:       *transport,
		SkipOptions:     *skipOptions,
		DialTimeout:     *timeout,
		ResponseTimeout: *timeout,
		MediaTimeout:    *timeout,
		Auth:            *auth,
		TLSFingerprint:  *fingerprint,
	}
	if *sdpSrc != "" {
		sdp, err := rtsp.LoadSDP(ctx, *sdpSrc)
		if err != nil {
			return fmt.Errorf("loading SDP: %w", err)
		}
		cfg.SDP = sdp
	}
	res, err := probe(ctx, cfg, *duration)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(res)
}

// configuredCamera returns the camera id of the config at path.
func configuredCamera(path, id string) (config.Camera, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return config.Camera{}, err
	}
	cc, ok := cfg.Camera(id)
	if !ok {
		return config.Camera{}, unknownCamera(id, cfg)
	}
	return cc, nil
}

// probe opens a session, reads it for d and summarises what it saw.
func probe(ctx context.Context, cfg rtsp.Config, d time.Duration) (*probeResult, error) {
	sess, err := rtsp.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	info := sess.Info()

	dep, err := video.NewDepacketizer(info.Video)
	if err != nil {
		return nil, err
	}
	var st probeStats
	// Read d of media counted from the first keyframe (a camera with a long
	// GOP would otherwise leave little to measure), and on until a second
	// keyframe shows the GOP length, within a hard wall-clock bound.
	readCtx, cancel := context.WithTimeout(ctx, d+probeExtraWait)
	defer cancel()
	want := ticks.FromDuration(d)
	err = sess.ReadPackets(readCtx, func(p *rtp.Packet) error {
		_ = dep.Push(p, st.add) // damaged packets are counted by the depacketizer
		if st.frames > 0 && st.lastDTS-st.firstDTS >= want && st.keyframes >= 2 {
			return errProbeDone
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errProbeDone):
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && st.frames > 0:
		// The bound ran out: report what was seen.
	default:
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("read: no decodable %s frames in %s", info.Video.Codec, d+probeExtraWait)
		}
		return nil, err
	}
	if st.frames == 0 {
		return nil, fmt.Errorf("read: no decodable %s frames in %s", info.Video.Codec, d+probeExtraWait)
	}

	res := &probeResult{
		URL:            info.URL,
		Server:         info.Server,
		Methods:        info.Methods,
		Transport:      info.Transport,
		TLSFingerprint: info.TLSFingerprint,
	}
	audioPicked := false
	for _, t := range info.Tracks {
		pt := probeTrack{Type: t.Type, Codec: t.Codec, Control: t.Control}
		if t.Type != "video" || (t.Codec != video.CodecH264 && t.Codec != video.CodecH265) {
			pt.ClockRate = t.ClockRate
		}
		pt.Channels = t.Channels
		switch {
		case t.Control == info.Video.Control && t.Codec == info.Video.Codec:
			pt.Recorded = true
			if p := st.params; p != nil {
				pt.Profile, pt.Tier, pt.Level, pt.Width, pt.Height = p.Profile, p.Tier, p.Level, p.Width, p.Height
			}
		case t.Type == "video":
			pt.Note = "nvr records one video track of a camera"
		case t.Type == "audio":
			// The recorder records the first audio track it can read
			// (recorder.Config.NoAudio off), over TCP or UDP.
			note, ok := audioNote(t)
			switch {
			case ok && audioPicked:
				note += "; nvr records one audio track of a camera"
			case ok:
				pt.Recorded, audioPicked = true, true
			}
			pt.Note = note
		default:
			pt.Note = "not audio or video"
		}
		res.Tracks = append(res.Tracks, pt)
	}
	ds := dep.Stats()
	res.Packets, res.Lost = ds.Packets, ds.Lost
	res.Frames, res.Keyframes = st.frames, st.keyframes
	res.DurationS, res.FPS, res.GOPS = st.timing()
	if res.DurationS > 0 {
		res.BitrateBPS = int64(float64(st.bytes) * 8 / res.DurationS)
	}
	return res, nil
}

// probeStats accumulates what nvr probe reports about the access units.
type probeStats struct {
	frames, keyframes uint64
	bytes             uint64
	firstDTS, lastDTS int64
	firstKey, lastKey int64
	params            *video.Params // the latest parsed parameter sets
}

func (s *probeStats) add(au *video.AccessUnit) {
	if s.frames == 0 {
		s.firstDTS = au.DTS
	}
	s.frames++
	s.lastDTS = au.DTS
	for _, n := range au.NALUs {
		s.bytes += uint64(len(n))
	}
	if au.Keyframe {
		if s.keyframes == 0 {
			s.firstKey = au.DTS
		}
		s.keyframes++
		s.lastKey = au.DTS
	}
	if au.Params != nil {
		s.params = au.Params // never modified: safe to keep
	}
}

// timing derives duration, frame rate and GOP length from 90 kHz decode
// times, never from arrival times.
func (s *probeStats) timing() (durationS, fps, gopS float64) {
	span := float64(s.lastDTS-s.firstDTS) / ticks.PerSecond
	if s.frames > 1 && span > 0 {
		fps = float64(s.frames-1) / span
		durationS = span + 1/fps // the last frame lasts one frame interval too
	}
	if s.keyframes > 1 {
		gopS = float64(s.lastKey-s.firstKey) / ticks.PerSecond / float64(s.keyframes-1)
	}
	return round3(durationS), round3(fps), round3(gopS)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
