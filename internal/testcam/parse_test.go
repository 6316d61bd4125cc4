package testcam

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
)

var readRequestCases = []struct {
	name       string
	in         string
	wantMethod string // "" when an error is expected
	wantErr    error  // nil: any error; checked with errors.Is when set
	wantHeader map[string]string
	wantBody   string
}{
	{"options", "OPTIONS rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n", "OPTIONS", nil, map[string]string{"cseq": "1"}, ""},
	{"lf-only", "OPTIONS * RTSP/1.0\nCSeq: 2\n\n", "OPTIONS", nil, map[string]string{"cseq": "2"}, ""},
	{"crlf-padding", "\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n", "OPTIONS", nil, nil, ""},
	{"trailing-space-cseq", "OPTIONS * RTSP/1.0\r\nCSeq: 4 \r\n\r\n", "OPTIONS", nil, map[string]string{"cseq": "4"}, ""},
	{"repeated-header", "SETUP * RTSP/1.0\r\nTransport: a\r\nTransport: b\r\n\r\n", "SETUP", nil, map[string]string{"transport": "a,b"}, ""},
	{"body", "GET_PARAMETER * RTSP/1.0\r\nContent-Length: 5\r\n\r\nhello", "GET_PARAMETER", nil, nil, "hello"},
	{"interleaved-first", "$\x01\x00\x03abcOPTIONS * RTSP/1.0\r\n\r\n", "", errInterleaved, nil, ""},
	{"bad-version", "OPTIONS * RTSP/2.0\r\n\r\n", "", errUnsupportedV, nil, ""},
	{"http", "GET / HTTP/1.1\r\n\r\n", "", errUnsupportedV, nil, ""},
	{"two-words", "OPTIONS RTSP/1.0\r\n\r\n", "", rtspmsg.ErrMalformed, nil, ""},
	{"no-colon", "OPTIONS * RTSP/1.0\r\nnocolon\r\n\r\n", "", rtspmsg.ErrMalformed, nil, ""},
	{"negative-length", "OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", "", rtspmsg.ErrMalformed, nil, ""},
	{"huge-length", "OPTIONS * RTSP/1.0\r\nContent-Length: 1000000000000\r\n\r\n", "", rtspmsg.ErrTooLarge, nil, ""},
	{"text-length", "OPTIONS * RTSP/1.0\r\nContent-Length: ten\r\n\r\n", "", rtspmsg.ErrMalformed, nil, ""},
	{"short-body", "OPTIONS * RTSP/1.0\r\nContent-Length: 10\r\n\r\nabc", "", io.ErrUnexpectedEOF, nil, ""},
	{"long-line", "OPTIONS * RTSP/1.0\r\nX: " + strings.Repeat("x", rtspmsg.MaxLineLen) + "\r\n\r\n", "", rtspmsg.ErrTooLarge, nil, ""},
	{"many-headers", "OPTIONS * RTSP/1.0\r\n" + strings.Repeat("X: y\r\n", rtspmsg.MaxHeaders+1) + "\r\n", "", rtspmsg.ErrTooLarge, nil, ""},
	{"eof-in-headers", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", "", io.EOF, nil, ""},
	{"empty", "", "", io.EOF, nil, ""},
}

func TestReadRequest(t *testing.T) {
	for _, tc := range readRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readRequest(bufio.NewReaderSize(strings.NewReader(tc.in), rtspmsg.MaxLineLen))
			if tc.wantMethod == "" {
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != tc.wantMethod || string(r.Body) != tc.wantBody {
				t.Fatalf("got %q body %q", r.Method, r.Body)
			}
			for k, v := range tc.wantHeader {
				if r.get(k) != v {
					t.Errorf("%s = %q, want %q", k, r.get(k), v)
				}
			}
		})
	}
}

// FuzzReadRequest feeds arbitrary bytes to the request reader: it must
// not panic and must respect its bounds.
func FuzzReadRequest(f *testing.F) {
	for _, tc := range readRequestCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), rtspmsg.MaxLineLen)
		for range 100 {
			r, err := readRequest(br)
			if errors.Is(err, errInterleaved) {
				continue
			}
			if err != nil {
				return
			}
			if len(r.Body) > rtspmsg.MaxBodyLen || len(r.Header) > rtspmsg.MaxHeaders {
				t.Fatalf("bounds exceeded: body %d, %d headers", len(r.Body), len(r.Header))
			}
		}
	})
}

var transportCases = []struct {
	in   string
	want transport
	ok   bool
}{
	{"RTP/AVP/TCP;unicast;interleaved=0-1", transport{TCP: true, Interleaved: [2]int{0, 1}}, true},
	{"RTP/AVP/TCP;unicast;interleaved=6-7", transport{TCP: true, Interleaved: [2]int{6, 7}}, true},
	{"RTP/AVP/TCP;unicast", transport{TCP: true, Interleaved: [2]int{0, 1}}, true},
	{"RTP/AVP/TCP;interleaved=4", transport{TCP: true, Interleaved: [2]int{4, 5}}, true},
	{"RTP/AVP;unicast;client_port=5000-5001", transport{ClientRTP: 5000, ClientRTCP: 5001}, true},
	{"RTP/AVP/UDP;unicast;client_port=5000", transport{ClientRTP: 5000, ClientRTCP: 5001}, true},
	{"RTP/AVP;multicast;client_port=5000-5001, RTP/AVP/TCP;interleaved=2-3", transport{TCP: true, Interleaved: [2]int{2, 3}}, true},
	{"rtp/avp/tcp;interleaved=0-1", transport{TCP: true, Interleaved: [2]int{0, 1}}, true},
	{"RTP/AVP;unicast", transport{}, false},
	{"RTP/AVP;client_port=0-1", transport{}, false},
	{"RTP/AVP;client_port=70000-70001", transport{}, false},
	{"RTP/AVP/TCP;interleaved=300-301", transport{}, false},
	{"RTP/AVP/TCP;interleaved=a-b", transport{}, false},
	{"RTP/AVP/TCP;interleaved=255", transport{TCP: true, Interleaved: [2]int{255, 255}}, true},
	// Any parameter that does not parse refuses the spec, the next one is tried.
	{"RTP/AVP/TCP;interleaved=0-1;ssrc=zz, RTP/AVP;client_port=5000", transport{ClientRTP: 5000, ClientRTCP: 5001}, true},
	{"RTP/SAVP;unicast;client_port=5000-5001", transport{}, false},
	{"", transport{}, false},
}

func TestPickTransport(t *testing.T) {
	for _, tc := range transportCases {
		got, ok := pickTransport(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzPickTransport(f *testing.F) {
	for _, tc := range transportCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tr, ok := pickTransport(in)
		if !ok {
			return
		}
		for _, v := range tr.Interleaved {
			if v < 0 || v > 255 {
				t.Fatalf("channel %d", v)
			}
		}
		if !tr.TCP && (tr.ClientRTP < 1 || tr.ClientRTP > 65535 || tr.ClientRTCP < 0 || tr.ClientRTCP > 65535) {
			t.Fatalf("ports %d-%d", tr.ClientRTP, tr.ClientRTCP)
		}
	})
}
