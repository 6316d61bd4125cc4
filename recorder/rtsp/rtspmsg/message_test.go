package rtspmsg

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

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
	{"long line", "RTSP/1.0 200 OK\r\nX: " + strings.Repeat("a", MaxLineLen) + "\r\n\r\n", true, 0, 0},
	{"many headers", "RTSP/1.0 200 OK\r\n" + strings.Repeat("A: b\r\n", MaxHeaders+1) + "\r\n", true, 0, 0},
	{"headers never end", "RTSP/1.0 200 OK\r\nCSeq: 1\r\n", true, 0, 0},
}

func TestResponseParser(t *testing.T) {
	for _, tc := range parserCases {
		m, err := ReadMessage(bufio.NewReaderSize(strings.NewReader(tc.in), ReadBufferSize))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if err == nil && (m.Status != tc.status || len(m.Body) != tc.bodyLen) {
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
		if _, err := ReadMessage(bufio.NewReaderSize(strings.NewReader(in), ReadBufferSize)); !errors.Is(err, ErrMalformed) {
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
		r := NewReader(strings.NewReader(tc.in))
		frames, msgs := 0, 0
		for {
			it, err := r.Next()
			if err != nil {
				break
			}
			if it.Frame {
				frames++
			} else {
				msgs++
			}
		}
		if frames != tc.frames || msgs != tc.msgs || r.Junk() != tc.junk {
			t.Errorf("%s: frames %d msgs %d junk %d", tc.name, frames, msgs, r.Junk())
		}
	}
	// More than MaxJunk bytes of garbage is an error, not an endless skip.
	r := NewReader(strings.NewReader(strings.Repeat("x", MaxJunk+10)))
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk flood: %v", err)
	}
}

func FuzzResponseParser(f *testing.F) {
	for _, tc := range parserCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMessage(bufio.NewReaderSize(bytes.NewReader(data), ReadBufferSize))
		if err != nil {
			return
		}
		if len(m.Body) > MaxBodyLen {
			t.Fatalf("body %d over the limit", len(m.Body))
		}
		n := 0
		for _, v := range m.Header {
			n += len(v)
		}
		if n > MaxHeaders {
			t.Fatalf("%d headers over the limit", n)
		}
		m.CSeq()
	})
}

func FuzzInterleavedReader(f *testing.F) {
	for _, tc := range interleavedCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range parserCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		// Each item consumes at least one byte, so this loop ends.
		for i := 0; i <= len(data); i++ {
			it, err := r.Next()
			if err != nil {
				return
			}
			if it.Frame && len(it.Payload) > MaxFrameLen {
				t.Fatalf("frame of %d bytes", len(it.Payload))
			}
		}
		t.Fatalf("reader produced more items than input bytes")
	})
}

// requestCases are what a client sends a server; they also seed
// FuzzReadRequest.
var requestCases = []struct {
	name    string
	in      string
	method  string // "" for a frame or an error
	proto   string
	frame   int // channel + 1 of a discarded frame; 0: none
	wantErr error
	header  map[string][]string
	body    string
}{
	{"options", "OPTIONS rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n", "OPTIONS", "RTSP/1.0", 0, nil, map[string][]string{"cseq": {"1"}}, ""},
	{"lf only", "OPTIONS * RTSP/1.0\nCSeq: 2\n\n", "OPTIONS", "RTSP/1.0", 0, nil, map[string][]string{"cseq": {"2"}}, ""},
	{"crlf padding", "\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n", "OPTIONS", "RTSP/1.0", 0, nil, nil, ""},
	{"repeated header", "SETUP * RTSP/1.0\r\nTransport: a\r\nTransport: b\r\n\r\n", "SETUP", "RTSP/1.0", 0, nil, map[string][]string{"transport": {"a", "b"}}, ""},
	{"body", "GET_PARAMETER * RTSP/1.0\r\nContent-Length: 5\r\n\r\nhello", "GET_PARAMETER", "RTSP/1.0", 0, nil, nil, "hello"},
	{"rtsp 2", "OPTIONS * RTSP/2.0\r\n\r\n", "OPTIONS", "RTSP/2.0", 0, nil, nil, ""},
	{"http", "GET / HTTP/1.1\r\nHost: cam\r\n\r\n", "GET", "HTTP/1.1", 0, nil, nil, ""},
	{"frame", "$\x01\x00\x03abcOPTIONS * RTSP/1.0\r\n\r\n", "", "", 2, nil, nil, ""},
	{"truncated frame", "$\x01\x00\x09abc", "", "", 0, io.ErrUnexpectedEOF, nil, ""},
	{"response", "RTSP/1.0 200 OK\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"two words", "OPTIONS RTSP/1.0\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"other protocol", "OPTIONS * SIP/2.0\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"no colon", "OPTIONS * RTSP/1.0\r\nnocolon\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"length -1", "OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"length text", "OPTIONS * RTSP/1.0\r\nContent-Length: ten\r\n\r\n", "", "", 0, ErrMalformed, nil, ""},
	{"length huge", "OPTIONS * RTSP/1.0\r\nContent-Length: 1000000000000\r\n\r\n", "", "", 0, ErrTooLarge, nil, ""},
	{"length past 64 bits", "OPTIONS * RTSP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n", "", "", 0, ErrTooLarge, nil, ""},
	{"long line", "OPTIONS * RTSP/1.0\r\nX: " + strings.Repeat("x", MaxLineLen) + "\r\n\r\n", "", "", 0, ErrTooLarge, nil, ""},
	{"many headers", "OPTIONS * RTSP/1.0\r\n" + strings.Repeat("X: y\r\n", MaxHeaders+1) + "\r\n", "", "", 0, ErrTooLarge, nil, ""},
	{"short body", "OPTIONS * RTSP/1.0\r\nContent-Length: 10\r\n\r\nabc", "", "", 0, io.ErrUnexpectedEOF, nil, ""},
	{"eof in headers", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", "", "", 0, io.EOF, nil, ""},
	{"empty", "", "", "", 0, io.EOF, nil, ""},
}

func TestReadRequest(t *testing.T) {
	for _, tc := range requestCases {
		it, err := ReadRequest(bufio.NewReader(strings.NewReader(tc.in)))
		switch {
		case tc.wantErr != nil:
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.frame > 0:
			if !it.Frame || int(it.Channel) != tc.frame-1 || it.Msg != nil {
				t.Errorf("%s: %+v, want a frame on channel %d", tc.name, it, tc.frame-1)
			}
		default:
			m := it.Msg
			if it.Frame || m == nil || m.Method != tc.method || m.Proto != tc.proto || string(m.Body) != tc.body || m.HTTP != strings.HasPrefix(tc.proto, "HTTP/") {
				t.Errorf("%s: %+v", tc.name, m)
				continue
			}
			for k, v := range tc.header {
				if !slices.Equal(m.Header.Values(k), v) {
					t.Errorf("%s: %s = %q, want %q", tc.name, k, m.Header.Values(k), v)
				}
			}
		}
	}
}

// TestTooLargeIsMalformed: a bound's error is also ErrMalformed, which
// the client branches on.
func TestTooLargeIsMalformed(t *testing.T) {
	in := "RTSP/1.0 200 OK\r\n" + strings.Repeat("A: b\r\n", MaxHeaders+1) + "\r\n"
	_, err := ReadMessage(bufio.NewReader(strings.NewReader(in)))
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzReadRequest(f *testing.F) {
	for _, tc := range requestCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		// Each item consumes at least one byte, so this loop ends.
		for i := 0; i <= len(data); i++ {
			it, err := ReadRequest(br)
			if err != nil {
				return
			}
			if it.Frame {
				continue
			}
			if it.Msg.Response || len(it.Msg.Body) > MaxBodyLen || len(it.Msg.Header) > MaxHeaders {
				t.Fatalf("bounds: %+v", it.Msg)
			}
		}
		t.Fatalf("more requests than input bytes")
	})
}
