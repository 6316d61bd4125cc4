package rtsp

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Cases added by the reliability audit (docs/reliability.md): faults that
// the tables above did not yet feed to the client itself.

// TestDripResponse (RELIABILITY R3): a server that sends a valid DESCRIBE
// reply one byte every 20 ms never lets a read go idle, so only a deadline
// on the whole response ends the wait. The client must give up at
// ResponseTimeout with ErrTimeout naming DESCRIBE, and leave no goroutine.
func TestDripResponse(t *testing.T) {
	const interval = 20 * time.Millisecond
	base := script{}.handler()
	srv := startFake(t, func(c *fakeConn, r *fakeReq) bool {
		if r.method != "DESCRIBE" {
			return base(c, r)
		}
		reply := strings.ReplaceAll(describeReply(testSDP, ""), "{cseq}", c.cseq)
		reply = strings.Replace(reply, "{len}", itoa(len(testSDP)), 1)
		// Dripping from the handler keeps the connection's reader busy,
		// which is what a real dripping server looks like to the client.
		for i := range len(reply) {
			if _, err := c.Write([]byte{reply[i]}); err != nil {
				return false
			}
			time.Sleep(interval)
		}
		return true
	})
	startG := runtime.NumGoroutine()
	start := time.Now()
	s, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam", ResponseTimeout: 300 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded against a dripping server")
	}
	var e *Error
	if !errors.As(err, &e) || e.Step != "DESCRIBE" || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a DESCRIBE timeout", err)
	}
	// The full reply would take len(reply)*20 ms (several seconds); the
	// per-response deadline must cut it near 300 ms.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about the 300 ms ResponseTimeout", d)
	}
	srv.close()
	waitGoroutines(t, startG)
}

// TestMalformedRTPHeaders (RELIABILITY R11) over the interleaved
// connection: RTP packets whose padding is longer than the payload, whose
// header extension runs past the packet, or whose CSRC count runs past it
// are dropped and counted; the good packet after them is delivered.
func TestMalformedRTPHeaders(t *testing.T) {
	// hdr is a 12-byte RTP header (version 2, pt 96, seq 1, ts 0, SSRC 1)
	// with first byte b0, followed by rest.
	hdr := func(b0 byte, rest ...byte) []byte {
		return append([]byte{b0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, rest...)
	}
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"padding larger than payload", hdr(0xa0, 0x65, 0x88, 0xff)},
		{"padding count zero", hdr(0xa0, 0x65, 0x88, 0x00)},
		{"extension longer than packet", hdr(0x90, 0xbe, 0xde, 0x00, 0x40, 0x65)},
		{"extension header cut", hdr(0x90, 0xbe)},
		{"CSRC count past the end", hdr(0x8f, 0, 0, 0, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := script{afterPlay: frame(0, tc.pkt) + rtpFrame(0, 2, 1)}
			s, _, got := runScript(t, sc, Config{}, 1)
			if len(got) != 1 || got[0].seq != 2 {
				t.Fatalf("got %+v, want only the good packet (seq 2)", got)
			}
			if st := s.Stats(); st.DroppedMalformed != 1 || st.Packets != 1 {
				t.Errorf("stats = %+v, want 1 malformed dropped and 1 packet", st)
			}
		})
	}
}

// TestKeepaliveNeverAnswered (QUIRKS "Keepalive: some never answer"): a
// camera that ignores GET_PARAMETER keepalives (no reply at all) while it
// streams must not lose its session: keepalives are not waited for, so
// packets keep flowing past several keepalive intervals.
func TestKeepaliveNeverAnswered(t *testing.T) {
	sc := script{replies: map[string]string{
		"GET_PARAMETER": "", // never answered
		"SETUP":         "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 77;timeout=1\r\n\r\n",
	}}
	h := streamer(sc, 20*time.Millisecond, func(i int) string { return rtpFrame(0, uint16(i), 1) })
	s, srv := openFake(t, h, Config{MediaTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
	defer cancel()
	var n int
	err := s.ReadPackets(ctx, func(*rtp.Packet) error { n++; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadPackets = %v after %d packets: an unanswered keepalive ended the session", err, n)
	}
	if k := len(srv.find("GET_PARAMETER")); k < 2 {
		t.Errorf("%d GET_PARAMETER keepalives in 1.6 s with timeout=1, want at least 2", k)
	}
	if n < 40 {
		t.Errorf("only %d packets in 1.6 s (one per 20 ms sent)", n)
	}
}

// TestKeepaliveTimingFromSessionTimeout (RELIABILITY F3): with the
// `timeout=20` of the row, the keepalive goes out every 10 s (half the
// timeout, RFC 2326 §12.37 leaves the margin to the client), well before
// the server's 20 s; receiver reports are due at most every 5 s, since
// some servers (gortsplib's server over UDP) close a session that has not
// reported within their own read timeout (10 s by default).
func TestKeepaliveTimingFromSessionTimeout(t *testing.T) {
	cases := []struct {
		name    string
		session string
		want    time.Duration
	}{
		{"timeout=20", "Session: 20AB;timeout=20", 10 * time.Second},
		{"no timeout: RFC 2326 default of 60 s", "Session: 20AB", 30 * time.Second},
		{"timeout=5", "Session: 20AB;timeout=5", 2500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := script{replies: map[string]string{
				"SETUP": "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n" + tc.session + "\r\n\r\n",
				"PLAY":  "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n",
			}}
			s, _ := openFake(t, sc.handler(), Config{})
			if s.keepaliveInterval != tc.want {
				t.Errorf("keepalive every %v, want %v", s.keepaliveInterval, tc.want)
			}
			if s.keepaliveInterval >= s.Info().SessionTimeout {
				t.Errorf("keepalive every %v does not beat the %v session timeout", s.keepaliveInterval, s.Info().SessionTimeout)
			}
			if s.rrInterval <= 0 || s.rrInterval > 5*time.Second {
				t.Errorf("receiver reports every %v, want at most 5 s", s.rrInterval)
			}
		})
	}
}
