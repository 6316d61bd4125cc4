package rtsp

import (
	"bufio"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"rtsp://admin:secret@192.0.2.10:554/Streaming/Channels/101", "rtsp://admin:***@192.0.2.10:554/Streaming/Channels/101"},
		{"rtsp://admin:p%40ss@h/x", "rtsp://admin:***@h/x"},
		{"rtsp://admin:p@ss#word@h/x", "rtsp://admin:***@h/x"},
		{"rtsp://admin@h/x", "rtsp://admin@h/x"},
		{"rtsp://h/x", "rtsp://h/x"},
		{"rtsp://h/cam?user=admin&password=secret&channel=1", "rtsp://h/cam?user=admin&password=***&channel=1"},
		{"rtsp://h/cam?PWD=secret", "rtsp://h/cam?PWD=***"},
		{"http://u:secret@h/x.sdp?pass=secret#frag", "http://u:***@h/x.sdp?pass=***#frag"},
		{"not a url :secret@", "not a url :secret@"},
	}
	for _, tc := range cases {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

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

func TestParseTransport(t *testing.T) {
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
		if got := parseTransport(tc.in); got != tc.want {
			t.Errorf("parseTransport(%q) = %+v, want %+v", tc.in, got, tc.want)
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

// parserCases are response-parser inputs; they also seed FuzzResponseParser.
var parserCases = []struct {
	name    string
	in      string
	wantErr bool
	status  int
	bodyLen int
}{
	{"ok", "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", false, 200, 0},
	{"body", "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 4\r\n\r\nv=0\n", false, 200, 4},
	{"LF only", "RTSP/1.0 404 Not Found\nCSeq: 3\n\n", false, 404, 0},
	{"no reason", "RTSP/1.0 200\r\n\r\n", false, 200, 0},
	{"request", "GET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 7\r\n\r\n", false, 0, 0},
	{"length -1", "RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", true, 0, 0},
	{"length 1e12", "RTSP/1.0 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", true, 0, 0},
	{"length abc", "RTSP/1.0 200 OK\r\nContent-Length: abc\r\n\r\n", true, 0, 0},
	{"length conflict", "RTSP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", true, 0, 0},
	{"folded", "RTSP/1.0 200 OK\r\nPublic: A,\r\n B\r\n\r\n", true, 0, 0},
	{"no colon", "RTSP/1.0 200 OK\r\nGarbage\r\n\r\n", true, 0, 0},
	{"bad status", "RTSP/1.0 abc OK\r\n\r\n", true, 0, 0},
	{"short body", "RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, 0, 0},
	{"long line", "RTSP/1.0 200 OK\r\nX: " + strings.Repeat("a", maxLineLen) + "\r\n\r\n", true, 0, 0},
	{"many headers", "RTSP/1.0 200 OK\r\n" + strings.Repeat("A: b\r\n", maxHeaders+1) + "\r\n", true, 0, 0},
	{"headers never end", "RTSP/1.0 200 OK\r\nCSeq: 1\r\n", true, 0, 0},
}

func TestResponseParser(t *testing.T) {
	for _, tc := range parserCases {
		m, err := readMessage(bufio.NewReaderSize(strings.NewReader(tc.in), readBufferSize))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if err == nil && (m.status != tc.status || len(m.body) != tc.bodyLen) {
			t.Errorf("%s: %+v", tc.name, m)
		}
	}
}

// TestContentLengthNoAllocation (R1): a huge Content-Length is refused
// before any body buffer is allocated.
func TestContentLengthNoAllocation(t *testing.T) {
	in := "RTSP/1.0 200 OK\r\nContent-Length: 4000000000\r\n\r\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := readMessage(bufio.NewReaderSize(strings.NewReader(in), readBufferSize)); !errors.Is(err, errMalformed) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("allocated %d bytes for 10 refused messages", d)
	}
}

// interleavedCases seed FuzzInterleavedReader.
var interleavedCases = []struct {
	name   string
	in     string
	frames int
	msgs   int
	junk   uint64
}{
	{"frame", "$\x00\x00\x03abc", 1, 0, 0},
	{"empty frame", "$\x01\x00\x00", 1, 0, 0},
	{"CRLF between", "\r\n$\x00\x00\x01a\r\n$\x00\x00\x01b", 2, 0, 4},
	{"response between", "$\x00\x00\x01aRTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n$\x01\x00\x01b", 2, 1, 0},
	{"server request", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n$\x00\x00\x01a", 1, 1, 0},
	{"junk", "xyz\x00$\x00\x00\x01a", 1, 0, 4},
	{"R but not RTSP", "RTSX$\x00\x00\x01a", 1, 0, 4},
	{"P but not PLAY", "PLAX $\x00\x00\x01a", 1, 0, 5},
	{"truncated frame", "$\x00\x00\x10ab", 0, 0, 0},
}

func TestInterleavedReader(t *testing.T) {
	for _, tc := range interleavedCases {
		r := newFrameReader(strings.NewReader(tc.in))
		frames, msgs := 0, 0
		for {
			it, err := r.next()
			if err != nil {
				break
			}
			if it.frame {
				frames++
			} else {
				msgs++
			}
		}
		if frames != tc.frames || msgs != tc.msgs || r.junk.Load() != tc.junk {
			t.Errorf("%s: frames %d msgs %d junk %d", tc.name, frames, msgs, r.junk.Load())
		}
	}
	// More than maxJunk bytes of garbage is an error, not an endless skip.
	r := newFrameReader(strings.NewReader(strings.Repeat("x", maxJunk+10)))
	if _, err := r.next(); !errors.Is(err, errMalformed) {
		t.Fatalf("junk flood: %v", err)
	}
}
