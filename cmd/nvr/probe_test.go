package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

func startCam(t *testing.T, opts testcam.Options) *testcam.Server {
	t.Helper()
	srv, err := testcam.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// runCLI runs nvr with args and returns its exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestProbeJSON(t *testing.T) {
	cases := []struct {
		name      string
		opts      testcam.Options
		transport string
		width     int
		height    int
		profile   string
		gop       float64
		duration  string
	}{
		{"tcp main720", testcam.Options{}, "tcp", 1280, 720, "Main", 2, "2600ms"},
		// A GOP longer than -duration: probe reads on to the second keyframe.
		{"tcp gop longer than duration", testcam.Options{}, "tcp", 1280, 720, "Main", 2, "500ms"},
		{"udp main720", testcam.Options{}, "udp", 1280, 720, "Main", 2, "2600ms"},
		{"tcp digest bframes", testcam.Options{Clip: testcam.ClipHigh360BFrame, Username: "admin", Password: "s3cr:t@x", Auth: testcam.AuthDigest}, "tcp", 640, 360, "High", 1, "2600ms"},
		{"udp basic baseline no sprop", testcam.Options{Clip: testcam.ClipBase240, Username: "admin", Password: "pw", Auth: testcam.AuthBasic, NoSprop: true}, "udp", 320, 240, "", 1, "2600ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Speed = 2 // 5 s of media in 2.5 s
			cam := startCam(t, tc.opts)
			code, out, errOut := runCLI("probe", "-transport", tc.transport, "-duration", tc.duration, cam.URL())
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var res probeResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
			}
			if tc.opts.Password != "" && strings.Contains(out, tc.opts.Password) {
				t.Fatalf("password in output: %s", out)
			}
			if res.Transport != tc.transport || len(res.Tracks) != 1 {
				t.Fatalf("transport %q tracks %+v", res.Transport, res.Tracks)
			}
			tr := res.Tracks[0]
			if tr.Codec != "H264" || tr.Width != tc.width || tr.Height != tc.height {
				t.Errorf("track %+v, want H264 %dx%d", tr, tc.width, tc.height)
			}
			if tc.profile != "" && tr.Profile != tc.profile {
				t.Errorf("profile %q, want %q", tr.Profile, tc.profile)
			}
			if res.FPS < 24.9 || res.FPS > 25.1 {
				t.Errorf("fps %v, want 25", res.FPS)
			}
			if res.GOPS != tc.gop {
				t.Errorf("gop %v, want %v", res.GOPS, tc.gop)
			}
			want, _ := time.ParseDuration(tc.duration)
			if res.DurationS < want.Seconds() || res.Frames < uint64(want.Seconds()*25) || res.Keyframes < 2 ||
				res.Packets == 0 || res.Lost != 0 || res.BitrateBPS <= 0 {
				t.Errorf("counts %+v", res)
			}
		})
	}
}

// fakeAudioOnly answers OPTIONS and DESCRIBE with an SDP that has no video.
func fakeAudioOnly(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := textproto.NewReader(bufio.NewReader(c))
		for {
			line, err := r.ReadLine()
			if err != nil {
				return
			}
			hdr, err := r.ReadMIMEHeader()
			if err != nil {
				return
			}
			cseq := hdr.Get("Cseq")
			if strings.HasPrefix(line, "DESCRIBE") {
				sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:trackID=1\r\n"
				fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", cseq, len(sdp), sdp)
				continue
			}
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n", cseq)
		}
	}()
	return "rtsp://" + ln.Addr().String() + "/audio"
}

func TestProbeErrors(t *testing.T) {
	authCam := startCam(t, testcam.Options{Username: "admin", Password: "hunter2", Auth: testcam.AuthDigest})
	silent := startCam(t, testcam.Options{Response: testcam.ResponseSilent})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "rtsp://" + closed.Addr().String() + "/cam"
	closed.Close()
	badPass := strings.Replace(authCam.URL(), "hunter2", "wrong-pw", 1)

	cases := []struct {
		name string
		args []string
		want []string // substrings of the one stderr line
	}{
		{"refused", []string{refusedURL}, []string{"connection refused"}},
		{"not found", []string{strings.Replace(authCam.URL(), "/cam", "/nope", 1)}, []string{"DESCRIBE", "not found"}},
		{"auth", []string{badPass}, []string{"authentication failed"}},
		{"timeout names step", []string{"-timeout", "1s", silent.URL()}, []string{"timed out", "OPTIONS"}},
		{"timeout without options", []string{"-timeout", "1s", "-skip-options", silent.URL()}, []string{"timed out", "DESCRIBE"}},
		{"no h264", []string{fakeAudioOnly(t)}, []string{"no H.264", "PCMA"}},
		{"not rtsp", []string{"http://127.0.0.1:1/x"}, []string{"rtsp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"probe", "-duration", "1s"}, tc.args...)...)
			if code == 0 {
				t.Fatalf("exit 0, stdout %s", out)
			}
			if out != "" {
				t.Errorf("stdout not empty on failure: %q", out)
			}
			if n := strings.Count(strings.TrimRight(errOut, "\n"), "\n"); n != 0 {
				t.Errorf("want one stderr line, got:\n%s", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			for _, secret := range []string{"hunter2", "wrong-pw"} {
				if strings.Contains(errOut, secret) {
					t.Errorf("password echoed: %q", errOut)
				}
			}
		})
	}
}
