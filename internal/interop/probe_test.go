package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// probeJSON is the part of nvr probe's output these tests check.
type probeJSON struct {
	URL       string `json:"url"`
	Transport string `json:"transport"`
	Tracks    []struct {
		Type    string `json:"type"`
		Codec   string `json:"codec"`
		Profile string `json:"profile"`
		Width   int    `json:"width"`
		Height  int    `json:"height"`
	} `json:"tracks"`
	Frames    uint64  `json:"frames"`
	Keyframes uint64  `json:"keyframes"`
	FPS       float64 `json:"fps"`
	GOPS      float64 `json:"gop_s"`
	Lost      uint64  `json:"lost_packets"`
}

// runProbe runs `nvr probe` and returns its stdout, stderr and exit error.
func runProbe(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(nvrBin, append([]string{"probe"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// streamWant is what a stream really is.
type streamWant struct {
	width, height int
	fps, gop      float64
	profile       string
}

// server is an RTSP server a probe case starts; it returns the stream's
// URL with good credentials.
type server func(t *testing.T) string

func gortCase(spec clipSpec, opts gortOptions) (server, streamWant) {
	return func(t *testing.T) string {
		c := clips.get(t, spec)
		return startGort(t, c, opts).URL()
	}, streamWant{width: spec.Width, height: spec.Height, fps: spec.FPS, gop: spec.gopSeconds(), profile: spec.wantProfile()}
}

func gstCase(o gstOptions) (server, streamWant) {
	profile := map[string]string{"main": "Main", "high": "High", "baseline": "Constrained Baseline"}[o.Profile]
	return func(t *testing.T) string { return startGst(t, o).URL() },
		streamWant{width: o.Width, height: o.Height, fps: float64(o.FPS), gop: float64(o.Keyint) / float64(o.FPS), profile: profile}
}

var (
	// 1080p High with three B-frames, four slices a frame and a 4 s GOP:
	// coded 1920x1088 and cropped.
	spec1080 = clipSpec{Width: 1920, Height: 1080, Rate: "30", FPS: 30, Keyint: 120, Profile: "high", BFrames: 3, Slices: 4, Seconds: 8}
	// 854x480 (cropped width) Main at 15 fps, GOP 2 s.
	spec480 = clipSpec{Width: 854, Height: 480, Rate: "15", FPS: 15, Keyint: 30, Profile: "main", Seconds: 8}
	// NTSC 29.97 fps High with B-frames, GOP of 30 frames (1.001 s).
	spec2997 = clipSpec{Width: 640, Height: 360, Rate: "30000/1001", FPS: 30000.0 / 1001, Keyint: 30, Profile: "high", BFrames: 3, Seconds: 4}
)

// TestProbeIndependentServers runs nvr probe against gortsplib's and
// GStreamer's RTSP servers over TCP and UDP, with and without Digest (and
// Basic) auth, and checks the JSON against what the stream really is.
func TestProbeIndependentServers(t *testing.T) {
	needTool(t, "ffmpeg")
	type probeCase struct {
		name      string
		srv       server
		want      streamWant
		transport string
		duration  time.Duration
	}
	var cases []probeCase
	add := func(name string, transport string, d time.Duration, srv server, want streamWant) {
		cases = append(cases, probeCase{name, srv, want, transport, d})
	}
	// gortsplib plays its clips at twice real time, so a probe sees two
	// long GOPs in a few seconds; fps and GOP come from RTP timestamps.
	const user, pass = "viewer", "p@ss w:rd%"
	s, w := gortCase(spec1080, gortOptions{User: user, Password: pass, Speed: 2})
	add("gortsplib 1080p30 high b3 slices4 gop4 digest", "tcp", 5*time.Second, s, w)
	add("gortsplib 1080p30 high b3 slices4 gop4 digest", "udp", 5*time.Second, s, w)
	s, w = gortCase(spec480, gortOptions{Speed: 2})
	add("gortsplib 854x480 15fps main", "tcp", 3*time.Second, s, w)
	s, w = gortCase(spec480, gortOptions{Speed: 2, NoSprop: true, User: user, Password: pass})
	add("gortsplib 854x480 15fps main no sprop digest", "udp", 3*time.Second, s, w)
	s, w = gortCase(spec2997, gortOptions{Speed: 2})
	add("gortsplib 29.97fps high b3", "udp", 3*time.Second, s, w)
	add("gortsplib 29.97fps high b3", "tcp", 3*time.Second, s, w)
	// GStreamer encodes live, so its probes read in real time.
	s, w = gstCase(gstOptions{Width: 640, Height: 360, FPS: 15, Keyint: 15, Profile: "high", BFrames: 2})
	add("gstreamer 640x360 15fps high b2", "tcp", 4*time.Second, s, w)
	add("gstreamer 640x360 15fps high b2", "udp", 4*time.Second, s, w)
	s, w = gstCase(gstOptions{Width: 426, Height: 240, FPS: 25, Keyint: 25, Profile: "main", Auth: "digest", User: user, Password: pass})
	add("gstreamer 426x240 25fps main digest", "tcp", 4*time.Second, s, w)
	add("gstreamer 426x240 25fps main digest", "udp", 4*time.Second, s, w)
	s, w = gstCase(gstOptions{Width: 320, Height: 180, FPS: 10, Keyint: 10, Profile: "baseline", Auth: "basic", User: user, Password: pass})
	add("gstreamer 320x180 10fps baseline basic", "udp", 4*time.Second, s, w)

	for _, tc := range cases {
		t.Run(tc.name+" "+tc.transport, func(t *testing.T) {
			t.Parallel()
			url := tc.srv(t)
			out, errOut, err := runProbe(t, "-transport", tc.transport, "-duration", tc.duration.String(), url)
			if err != nil {
				t.Fatalf("nvr probe: %v: %s", err, errOut)
			}
			if strings.Contains(out+errOut, pass) || strings.Contains(out+errOut, "w:rd") {
				t.Errorf("password in output: %s %s", out, errOut)
			}
			var res probeJSON
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&res); err != nil || dec.More() {
				t.Fatalf("stdout is not one JSON object (%v): %s", err, out)
			}
			if res.Transport != tc.transport || len(res.Tracks) != 1 {
				t.Fatalf("transport %q, tracks %+v", res.Transport, res.Tracks)
			}
			tr := res.Tracks[0]
			if tr.Type != "video" || tr.Codec != "H264" || tr.Width != tc.want.width || tr.Height != tc.want.height || tr.Profile != tc.want.profile {
				t.Errorf("track %+v, want H264 %s %dx%d", tr, tc.want.profile, tc.want.width, tc.want.height)
			}
			if math.Abs(res.FPS-tc.want.fps) > tc.want.fps/200 {
				t.Errorf("fps %v, want %.3f", res.FPS, tc.want.fps)
			}
			// One frame interval of slack: the GOP is measured between
			// keyframes' decode times.
			if math.Abs(res.GOPS-tc.want.gop) > 1/tc.want.fps {
				t.Errorf("gop_s %v, want %.3f (keyframes %d)", res.GOPS, tc.want.gop, res.Keyframes)
			}
			if res.Lost != 0 || res.Frames == 0 {
				t.Errorf("frames %d, lost packets %d", res.Frames, res.Lost)
			}
		})
	}
}

// TestProbeOneLineErrors: a wrong password, missing credentials or a
// wrong path give a single line on stderr naming what failed, never the
// password, nothing on stdout, and a non-zero exit.
func TestProbeOneLineErrors(t *testing.T) {
	const user, pass, bad = "viewer", "right-pass", "wr0ng:p@ss"
	cases := []struct {
		name string
		url  func(t *testing.T) string
		want string // in the error, case-insensitive
	}{
		{"gortsplib digest wrong password", func(t *testing.T) string {
			g := startGort(t, clips.get(t, spec2997), gortOptions{User: user, Password: pass})
			return rtspURL(g.opts.Port, "live", user, bad)
		}, "auth"},
		{"gstreamer digest wrong password", func(t *testing.T) string {
			g := startGst(t, gstOptions{Width: 320, Height: 180, FPS: 10, Keyint: 10, Auth: "digest", User: user, Password: pass})
			return rtspURL(g.opts.Port, "stream", user, bad)
		}, "auth"},
		{"gstreamer basic wrong password", func(t *testing.T) string {
			g := startGst(t, gstOptions{Width: 320, Height: 180, FPS: 10, Keyint: 10, Auth: "basic", User: user, Password: pass})
			return rtspURL(g.opts.Port, "stream", user, bad)
		}, "auth"},
		{"gortsplib no credentials", func(t *testing.T) string {
			g := startGort(t, clips.get(t, spec2997), gortOptions{User: user, Password: pass})
			return rtspURL(g.opts.Port, "live", "", "")
		}, "auth"},
		{"gortsplib wrong path", func(t *testing.T) string {
			g := startGort(t, clips.get(t, spec2997), gortOptions{User: user, Password: pass})
			return rtspURL(g.opts.Port, "nope", user, pass)
		}, "404"},
		{"gstreamer wrong path", func(t *testing.T) string {
			g := startGst(t, gstOptions{Width: 320, Height: 180, FPS: 10, Keyint: 10, Auth: "digest", User: user, Password: pass})
			return rtspURL(g.opts.Port, "nope", user, pass)
		}, "404"},
	}
	for _, tc := range cases {
		for _, transport := range []string{"tcp", "udp"} {
			t.Run(fmt.Sprintf("%s %s", tc.name, transport), func(t *testing.T) {
				t.Parallel()
				url := tc.url(t)
				out, errOut, err := runProbe(t, "-transport", transport, "-duration", "2s", url)
				if err == nil {
					t.Fatalf("probe succeeded: %s", out)
				}
				if out != "" {
					t.Errorf("stdout on failure: %q", out)
				}
				line := strings.TrimSuffix(errOut, "\n")
				if line == "" || strings.Contains(line, "\n") {
					t.Errorf("want one line on stderr, got %q", errOut)
				}
				if !strings.Contains(strings.ToLower(line), tc.want) {
					t.Errorf("error does not say %q: %q", tc.want, line)
				}
				if strings.Contains(errOut, bad) || strings.Contains(errOut, "p@ss") || strings.Contains(errOut, pass) {
					t.Errorf("password in error: %q", errOut)
				}
			})
		}
	}
}
