package rtsp

import (
	"strings"
	"testing"
	"time"
)

func TestParseCameraURL(t *testing.T) {
	u, err := parseCameraURL("rtsp://ad%3Amin:p%40ss%2Fw@cam.local/live?ch=1")
	if err != nil {
		t.Fatal(err)
	}
	if u.user != "ad:min" || u.pass != "p@ss/w" || u.reqURL != "rtsp://cam.local/live?ch=1" || u.hostPort != "cam.local:554" {
		t.Fatalf("%+v", u)
	}
	for _, bad := range []string{"http://h/x", "rtsp:///x", "rtsp://u:secret@[::1/x", ""} {
		_, err := parseCameraURL(bad)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("parseCameraURL(%q) = %v", bad, err)
		}
	}
}

func TestControlURLs(t *testing.T) {
	req, _ := parseCameraURL("rtsp://u:p@10.0.0.1:554/cam/realmonitor?channel=1&subtype=0")
	cases := []struct {
		name, contentBase, contentLocation, control, want string
	}{
		{"relative on Content-Base", "rtsp://10.0.0.1:554/cam/", "", "trackID=1", "rtsp://10.0.0.1:554/cam/trackID=1"},
		{"Content-Base without slash", "rtsp://10.0.0.1:554/cam", "", "trackID=1", "rtsp://10.0.0.1:554/cam/trackID=1"},
		{"Content-Location second", "", "rtsp://10.0.0.1/loc/", "t1", "rtsp://10.0.0.1/loc/t1"},
		{"request URL last (Dahua query)", "", "", "trackID=0", "rtsp://10.0.0.1:554/cam/realmonitor?channel=1&subtype=0/trackID=0"},
		{"star", "rtsp://10.0.0.1/cam/", "", "*", "rtsp://10.0.0.1/cam/"},
		{"empty", "rtsp://10.0.0.1/cam/", "", "", "rtsp://10.0.0.1/cam/"},
		{"absolute", "rtsp://10.0.0.1/cam/", "", "rtsp://10.0.0.1/other/video", "rtsp://10.0.0.1/other/video"},
		{"absolute path", "rtsp://10.0.0.1/cam/", "", "/p/video", "rtsp://10.0.0.1:554/p/video"},
		{"no scheme (Anjvision)", "10.0.0.1:554/live/ch0/", "", "track1", "rtsp://10.0.0.1:554/live/ch0/track1"},
		{"trailing space", "rtsp://10.0.0.1/cam/ ", "", "track1", "rtsp://10.0.0.1/cam/track1"},
		{"rtsp://rtsp://", "rtsp://rtsp://10.0.0.1/cam/", "", "track1", "rtsp://10.0.0.1/cam/track1"},
		{"credentials echoed", "rtsp://u:p@10.0.0.1/cam/", "", "rtsp://u:p@10.0.0.1/cam/t", "rtsp://10.0.0.1/cam/t"},
		{"::ffff: host", "rtsp://[::ffff:10.0.0.1]:554/cam/", "", "t", "rtsp://[::ffff:10.0.0.1]:554/cam/t"},
	}
	for _, tc := range cases {
		base := baseURL(req, tc.contentBase, tc.contentLocation)
		if got := resolveControl(req, base, tc.control); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// transportReply is the part of a SETUP reply's Transport the client uses.
type transportReply struct {
	tcp         bool
	interleaved [2]int
	hasChannels bool
	serverPort  [2]int
	hasServer   bool
	source      string
	ssrc        uint32
	hasSSRC     bool
}

func TestReplyTransport(t *testing.T) {
	cases := []struct {
		in   string
		want transportReply
	}{
		{"RTP/AVP/TCP;unicast;interleaved=0-1", transportReply{tcp: true, interleaved: [2]int{0, 1}, hasChannels: true}},
		{"RTP/AVP;unicast;interleaved=2-3", transportReply{interleaved: [2]int{2, 3}, hasChannels: true}}, // Escam Q6
		{"RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D",
			transportReply{serverPort: [2]int{6970, 6971}, hasServer: true, ssrc: 0x1A2B3C4D, hasSSRC: true}},
		{"RTP/AVP;unicast;client_port=5000-5001", transportReply{}},
		{"RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= 0000ABCD", transportReply{tcp: true, interleaved: [2]int{0, 1}, hasChannels: true, ssrc: 0xABCD, hasSSRC: true}},
		{"RTP/AVP/TCP;interleaved=0;ssrc=zz;source=10.0.0.9", transportReply{tcp: true, interleaved: [2]int{0, 1}, hasChannels: true, source: "10.0.0.9"}},
		{"RTP/AVP/TCP;interleaved=999-1000", transportReply{tcp: true}},
		{"", transportReply{}},
	}
	for _, tc := range cases {
		tr := replyTransport(tc.in)
		got := transportReply{tcp: tr.TCP(), interleaved: tr.Interleaved, hasChannels: tr.HasInterleaved, serverPort: tr.ServerPort,
			hasServer: tr.HasServerPort, source: tr.Source, ssrc: tr.SSRC, hasSSRC: tr.HasSSRC}
		if got != tc.want {
			t.Errorf("replyTransport(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseSession(t *testing.T) {
	cases := []struct {
		in      string
		id      string
		timeout time.Duration
	}{
		{"12345678;timeout=60", "12345678", 60 * time.Second},
		{"      12345678;timeout=20", "12345678", 20 * time.Second}, // Hikvision
		{"abc", "abc", 0},
		{"abc; timeout = 5 ", "abc", 5 * time.Second},
		{"abc;timeout=0", "abc", 0},
		{"abc;timeout=-3", "abc", 0},
		{"abc;timeout=99999999", "abc", maxSessionTimeout},
	}
	for _, tc := range cases {
		id, to := parseSession(tc.in)
		if id != tc.id || to != tc.timeout {
			t.Errorf("parseSession(%q) = %q %v", tc.in, id, to)
		}
	}
}

func TestRTPInfoSSRC(t *testing.T) {
	ctl := "rtsp://h/cam/trackID=1"
	cases := []struct {
		in   string
		ssrc uint32
		ok   bool
	}{
		{"url=rtsp://h/cam/trackID=1;seq=1;rtptime=0;ssrc=0000ABCD", 0xABCD, true},
		{"url=trackID=1;seq=0;rtptime=-1234;ssrc=12", 0x12, true}, // relative url, negative rtptime (OMNY)
		{"url=rtsp://h/cam/trackID=2;ssrc=1,url=rtsp://h/cam/trackID=1;ssrc=2", 2, true},
		{"url=rtsp://h/cam/trackID=1;seq=0;rtptime=0;", 0, false}, // Hikvision/Laureii: no ssrc, trailing ;
		{"url=rtsp://h/cam/trackID=1;ssrc=xyz", 0, false},
		{"", 0, false},
		{";;;,,,", 0, false},
	}
	for _, tc := range cases {
		ssrc, ok := rtpInfoSSRC(tc.in, ctl)
		if ssrc != tc.ssrc || ok != tc.ok {
			t.Errorf("rtpInfoSSRC(%q) = %x %v", tc.in, ssrc, ok)
		}
	}
}

func TestRTPInfoTimes(t *testing.T) {
	const v, a = "rtsp://h/cam/trackID=1", "rtsp://h/cam/trackID=2"
	for _, tc := range []struct {
		in     string
		vt, at uint32
		ok     bool
	}{
		{"url=rtsp://h/cam/trackID=1;seq=1;rtptime=3000,url=rtsp://h/cam/trackID=2;seq=9;rtptime=4294967295", 3000, 4294967295, true},
		{"url=trackID=2;rtptime=8000, url=trackID=1;rtptime=90000", 90000, 8000, true},
		{"url=rtsp://h/cam/trackID=1;seq=1;rtptime=3000", 0, 0, false},                              // audio missing
		{"url=rtsp://h/cam/trackID=1;rtptime=-5,url=rtsp://h/cam/trackID=2;rtptime=1", 0, 0, false}, // OMNY negative
		{"url=rtsp://h/cam/trackID=1;rtptime=1,url=rtsp://h/cam/trackID=2", 0, 0, false},
		{"rtptime=1", 0, 0, false},
		{"", 0, 0, false},
	} {
		vt, at, ok := rtpInfoTimes(tc.in, v, a)
		if vt != tc.vt || at != tc.at || ok != tc.ok {
			t.Errorf("rtpInfoTimes(%q) = %d %d %v, want %d %d %v", tc.in, vt, at, ok, tc.vt, tc.at, tc.ok)
		}
	}
}
