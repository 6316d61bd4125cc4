package testcam

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
	"github.com/pion/rtp"
)

const testUser, testPass = "admin", "pa55:w@rd"

// TestRTSPStatus checks the status codes and headers of the protocol's
// error paths (RFC 2326 §11) with raw requests.
func TestRTSPStatus(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", rtspmsg.MaxLineLen+10)
	var many []string
	for i := range rtspmsg.MaxHeaders + 1 {
		many = append(many, "X-H"+strconv.Itoa(i)+": v")
	}
	basicOK := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))
	basicBad := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":wrong"))
	for _, tc := range []struct {
		name       string
		o          Options
		method     string
		path       string // appended to rtsp://host:port
		headers    []string
		wantStatus int
		wantHeader map[string]string // header → substring
	}{
		{"options", Options{}, "OPTIONS", "/cam", nil, 200, map[string]string{"public": "GET_PARAMETER"}},
		{"describe", Options{}, "DESCRIBE", "/cam", nil, 200, map[string]string{"content-type": "application/sdp", "content-base": "/cam/"}},
		{"wrong-path", Options{}, "DESCRIBE", "/nope", nil, 404, nil},
		{"setup-wrong-path", Options{}, "SETUP", "/nope/trackID=0", []string{"Transport: RTP/AVP/TCP;interleaved=0-1"}, 404, nil},
		{"basic-missing", Options{Auth: AuthBasic, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", nil, 401,
			map[string]string{"www-authenticate": `Basic realm="`}},
		{"basic-wrong", Options{Auth: AuthBasic, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", []string{basicBad}, 401, nil},
		{"basic-ok", Options{Auth: AuthBasic, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", []string{basicOK}, 200, nil},
		{"basic-before-404", Options{Auth: AuthBasic, Username: testUser, Password: testPass}, "DESCRIBE", "/nope", nil, 401, nil},
		{"digest-missing", Options{Auth: AuthDigest, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", nil, 401,
			map[string]string{"www-authenticate": `qop="auth"`}},
		{"digest-basic-offered", Options{Auth: AuthDigest, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", []string{basicOK}, 401, nil},
		{"digest-sha256-missing", Options{Auth: AuthDigestSHA256, Username: testUser, Password: testPass}, "DESCRIBE", "/cam", nil, 401,
			map[string]string{"www-authenticate": "algorithm=SHA-256"}},
		{"options-without-auth", Options{Auth: AuthDigest, Username: testUser, Password: testPass}, "OPTIONS", "/cam", nil, 200, nil},
		{"play-no-session", Options{}, "PLAY", "/cam", nil, 454, nil},
		{"play-wrong-session", Options{}, "PLAY", "/cam", []string{"Session: 12345678"}, 454, nil},
		{"teardown-no-session", Options{}, "TEARDOWN", "/cam", nil, 454, nil},
		{"setup-multicast", Options{}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP;multicast"}, 461, nil},
		{"setup-no-transport", Options{}, "SETUP", "/cam/trackID=0", nil, 461, nil},
		{"setup-udp-no-ports", Options{}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP;unicast"}, 461, nil},
		{"setup-tcp", Options{}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP/TCP;unicast;interleaved=4-5"}, 200,
			map[string]string{"transport": "interleaved=4-5", "session": ";timeout=60"}},
		{"setup-timeout", Options{SessionTimeout: 20}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP/TCP;interleaved=0-1"}, 200,
			map[string]string{"session": ";timeout=20"}},
		{"setup-udp", Options{}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP;unicast;client_port=5000-5001"}, 200,
			map[string]string{"transport": "client_port=5000-5001;server_port="}},
		{"setup-ssrc", Options{SSRC: 0x1234abcd, AnnounceSSRC: true}, "SETUP", "/cam/trackID=0", []string{"Transport: RTP/AVP/TCP;interleaved=0-1"}, 200,
			map[string]string{"transport": "ssrc=1234ABCD"}},
		{"get-parameter", Options{}, "GET_PARAMETER", "/cam", nil, 200, nil},
		{"unknown-method", Options{}, "RECORD", "/cam", nil, 501, nil},
		{"line-too-long", Options{}, "OPTIONS", "/cam", []string{long}, 400, nil},
		{"too-many-headers", Options{}, "OPTIONS", "/cam", many, 400, nil},
		{"body-too-large", Options{}, "GET_PARAMETER", "/cam", []string{"Content-Length: " + strconv.Itoa(rtspmsg.MaxBodyLen+1)}, 400, nil},
		{"bad-content-length", Options{}, "GET_PARAMETER", "/cam", []string{"Content-Length: -1"}, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tc.o)
			c := dialRaw(t, s)
			c.send(tc.method, "rtsp://"+s.Addr()+tc.path, tc.headers...)
			r, err := c.readResponse()
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", r.Status, tc.wantStatus, r.Raw)
			}
			for k, v := range tc.wantHeader {
				if !strings.Contains(r.Header[k], v) {
					t.Errorf("%s: %q lacks %q", k, r.Header[k], v)
				}
			}
			if strings.Contains(r.Raw, testPass) {
				t.Errorf("response contains the password:\n%s", r.Raw)
			}
			if tc.wantStatus == 401 && s.Stats().AuthFailures != 1 {
				t.Errorf("AuthFailures %d", s.Stats().AuthFailures)
			}
		})
	}
}

// TestDigestResponses checks Digest answers computed by hand: with
// qop=auth (RFC 2617 §3.2.2.1) and without (RFC 2069 style), MD5 and
// SHA-256, and the mismatches that must fail.
func TestDigestResponses(t *testing.T) {
	type answer struct {
		alg, user, pass, nonce, qop string
	}
	for _, tc := range []struct {
		name   string
		auth   string
		a      answer
		wantOK bool
	}{
		{"md5-qop", AuthDigest, answer{"MD5", testUser, testPass, "", "auth"}, true},
		{"md5-rfc2069", AuthDigest, answer{"MD5", testUser, testPass, "", ""}, true},
		{"md5-no-algorithm", AuthDigest, answer{"", testUser, testPass, "", "auth"}, true},
		{"md5-wrong-pass", AuthDigest, answer{"MD5", testUser, "nope", "", "auth"}, false},
		{"md5-wrong-user", AuthDigest, answer{"MD5", "root", testPass, "", "auth"}, false},
		{"md5-stale-nonce", AuthDigest, answer{"MD5", testUser, testPass, "0123", "auth"}, false},
		{"md5-qop-int", AuthDigest, answer{"MD5", testUser, testPass, "", "auth-int"}, false},
		{"sha256-qop", AuthDigestSHA256, answer{"SHA-256", testUser, testPass, "", "auth"}, true},
		{"sha256-rfc2069", AuthDigestSHA256, answer{"SHA-256", testUser, testPass, "", ""}, true},
		{"sha256-md5-answer", AuthDigestSHA256, answer{"MD5", testUser, testPass, "", "auth"}, false},
		{"sha256-no-algorithm", AuthDigestSHA256, answer{"", testUser, testPass, "", "auth"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Auth: tc.auth, Username: testUser, Password: testPass})
			c := dialRaw(t, s)
			r := c.do("DESCRIBE", c.base)
			if r.Status != 401 {
				t.Fatalf("status %d", r.Status)
			}
			p, _ := rtspmsg.ParseAuthParams(strings.TrimPrefix(r.Header["www-authenticate"], "Digest "))
			nonce := p["nonce"]
			if tc.a.nonce != "" {
				nonce = tc.a.nonce
			}
			newHash := md5.New
			if tc.a.alg == "SHA-256" || tc.a.alg == "" && tc.auth == AuthDigestSHA256 {
				newHash = sha256.New
			}
			hx := func(s string) string {
				var h hash.Hash = newHash()
				h.Write([]byte(s))
				return hex.EncodeToString(h.Sum(nil))
			}
			ha1 := hx(tc.a.user + ":" + p["realm"] + ":" + tc.a.pass)
			ha2 := hx("DESCRIBE:" + c.base)
			hdr := `Authorization: Digest username="` + tc.a.user + `", realm="` + p["realm"] + `", nonce="` + nonce +
				`", uri="` + c.base + `"`
			if tc.a.alg != "" {
				hdr += ", algorithm=" + tc.a.alg
			}
			if tc.a.qop != "" {
				hdr += `, qop=` + tc.a.qop + `, nc=00000001, cnonce="0a4f113b", response="` +
					hx(ha1+":"+nonce+":00000001:0a4f113b:"+tc.a.qop+":"+ha2) + `"`
			} else {
				hdr += `, response="` + hx(ha1+":"+nonce+":"+ha2) + `"`
			}
			r = c.do("DESCRIBE", c.base, hdr)
			if got := r.Status == 200; got != tc.wantOK {
				t.Fatalf("status %d, want ok=%v", r.Status, tc.wantOK)
			}
		})
	}
}

// TestCloseAfter (RELIABILITY.md F1, camera reboot): the connection ends
// with EOF CloseAfter after PLAY, after media flowed.
func TestCloseAfter(t *testing.T) {
	t.Parallel()
	const after = 300 * time.Millisecond
	s := startServer(t, Options{Clip: ClipBase240, CloseAfter: after})
	c := dialRaw(t, s)
	c.play()
	start := time.Now()
	n := 0
	var err error
	for {
		if _, err = c.readRTP(start.Add(testWait)); err != nil {
			break
		}
		n++
	}
	if isTimeout(err) {
		t.Fatal("connection not closed")
	}
	if el := time.Since(start); el < after-50*time.Millisecond || n == 0 {
		t.Fatalf("closed after %v with %d packets (err %v)", el, n, err)
	}
	waitFor(t, func() bool { return s.Stats().ActiveSessions == 0 }, "session gone")
}

// TestStallAfter (F2, silent drop): media stops, the connection stays,
// requests are still answered.
func TestStallAfter(t *testing.T) {
	t.Parallel()
	const after = 200 * time.Millisecond
	s := startServer(t, Options{Clip: ClipBase240, StallAfter: after, Speed: 4})
	c := dialRaw(t, s)
	c.play()
	start := time.Now()
	var last time.Time
	n := 0
	for {
		if _, err := c.readRTP(start.Add(after + 400*time.Millisecond)); err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
		last = time.Now()
		n++
	}
	if n == 0 || last.Sub(start) > after+100*time.Millisecond {
		t.Fatalf("%d packets, last at %v after PLAY, stall at %v", n, last.Sub(start), after)
	}
	frames := s.Stats().FramesSent
	c.br.Reset(c.nc) // drop partial state from the timed-out read
	if r := c.do("GET_PARAMETER", c.base); r.Status != 200 {
		t.Fatalf("GET_PARAMETER in stall: %d", r.Status)
	}
	if got := s.Stats().FramesSent; got != frames {
		t.Errorf("frames sent in stall: %d -> %d", frames, got)
	}
}

// TestRequireKeepalive (F3): without a keepalive the session expires after
// SessionTimeout seconds and the connection closes.
func TestRequireKeepalive(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Clip: ClipBase240, SessionTimeout: 1, RequireKeepalive: true})
	c := dialRaw(t, s)
	c.play()
	start := time.Now()
	var err error
	for err == nil {
		_, err = c.readRTP(start.Add(testWait))
	}
	if isTimeout(err) {
		t.Fatal("session did not expire")
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("expired after %v, timeout is 1 s", el)
	}
	waitFor(t, func() bool { st := s.Stats(); return st.Expired == 1 && st.ActiveSessions == 0 }, "Expired == 1")
}

// collectRTP reads n RTP packets.
func collectRTP(t *testing.T, c *rawClient, n int) []*rtp.Packet {
	t.Helper()
	var out []*rtp.Packet
	end := time.Now().Add(testWait)
	for len(out) < n {
		p, err := c.readRTP(end)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(out), err)
		}
		out = append(out, p)
	}
	return out
}

// TestDropEvery checks that exactly every Nth sequence number is missing.
func TestDropEvery(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 5, 13} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, DropEvery: n})
			c := dialRaw(t, s)
			r := c.play()
			seq0 := rtpInfoSeq(t, r)
			pkts := collectRTP(t, c, 150)
			want := uint16(0) // offset from seq0 of the next packet expected
			for i, p := range pkts {
				for (int(want)+1)%n == 0 {
					want++ // the server's packet counter starts at 1
				}
				if got := p.SequenceNumber - seq0; got != want {
					t.Fatalf("packet %d: seq offset %d, want %d", i, got, want)
				}
				want++
			}
			if s.Stats().PacketsDropped == 0 {
				t.Error("PacketsDropped is 0")
			}
		})
	}
}

// TestReorderEvery checks that every Nth packet arrives after the next.
func TestReorderEvery(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 4, 7} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, ReorderEvery: n})
			c := dialRaw(t, s)
			r := c.play()
			seq0 := rtpInfoSeq(t, r)
			pkts := collectRTP(t, c, 150)
			// Expected order of 1-based counters: N is sent after N+1.
			var want []uint16
			for k := 1; len(want) < len(pkts); k++ {
				switch {
				case k%n == 0:
				case (k-1)%n == 0 && k > 1:
					want = append(want, uint16(k-1), uint16(k-2))
				default:
					want = append(want, uint16(k-1))
				}
			}
			back := 0
			for i, p := range pkts {
				if got := p.SequenceNumber - seq0; got != want[i] {
					t.Fatalf("packet %d: seq offset %d, want %d", i, got, want[i])
				}
				if i > 0 && int16(p.SequenceNumber-pkts[i-1].SequenceNumber) < 0 {
					back++
				}
			}
			if back == 0 {
				t.Error("no packet arrived out of order")
			}
		})
	}
}

func rtpInfoSeq(t *testing.T, r rawResponse) uint16 {
	t.Helper()
	for _, p := range strings.Split(r.Header["rtp-info"], ";") {
		if v, ok := strings.CutPrefix(p, "seq="); ok {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				t.Fatal(err)
			}
			return uint16(n)
		}
	}
	t.Fatalf("no seq in RTP-Info %q", r.Header["rtp-info"])
	return 0
}

// TestUDPLargePackets sends 10,000-byte RTP payloads over UDP (QUIRKS.md:
// Tapo) from the announced server port to the client port only.
func TestUDPLargePackets(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, MaxPacketSize: 10000})
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	c := dialRaw(t, s)
	r := c.do("SETUP", c.base+"/"+trackControl, "Transport: RTP/AVP;unicast;client_port="+strconv.Itoa(port)+"-"+strconv.Itoa(port+1))
	if r.Status != 200 {
		t.Fatalf("SETUP %d", r.Status)
	}
	_, sp, _ := strings.Cut(r.Header["transport"], "server_port=")
	sp, _, _ = strings.Cut(sp, "-")
	if r := c.do("PLAY", c.base, "Session: "+sessionID(r.Header["session"])); r.Status != 200 {
		t.Fatalf("PLAY %d", r.Status)
	}
	buf := make([]byte, 65536)
	largest := 0
	if err := pc.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(int(from.Port())) != sp || from.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("datagram from %v, server_port %s", from, sp)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if len(p.Payload) > 10000 {
			t.Fatalf("payload %d > 10000", len(p.Payload))
		}
		largest = max(largest, len(p.Payload))
	}
	if largest <= 1472 {
		t.Fatalf("largest payload %d: no large datagram", largest)
	}
}

// TestIdleConnectionTimeout: a connection without a session that sends
// nothing (or half a request) is closed after SessionTimeout, and is not
// counted as an expired session.
func TestIdleConnectionTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{SessionTimeout: 1})
	for _, partial := range []string{"", "OPTIONS rtsp://x/cam RTSP/1.0\r\nCSe"} {
		t.Run(strconv.Quote(partial), func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, s)
			if _, err := c.nc.Write([]byte(partial)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := c.nc.SetReadDeadline(start.Add(testWait)); err != nil {
				t.Fatal(err)
			}
			n, err := c.br.Read(make([]byte, 1))
			if n != 0 || err == nil || isTimeout(err) {
				t.Fatalf("read %d bytes, err %v: want EOF", n, err)
			}
			if el := time.Since(start); el < 900*time.Millisecond {
				t.Fatalf("closed after %v, timeout 1 s", el)
			}
			if st := s.Stats(); st.Expired != 0 {
				t.Errorf("Expired %d", st.Expired)
			}
		})
	}
}

// TestSenderReport checks the RTCP sender report on the interleaved RTCP
// channel (RFC 3550 §6.4.1): the session's SSRC, the RTP time of a frame
// that was sent, and counts no larger than what was sent.
func TestSenderReport(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, SSRC: 0xcafe})
	c := dialRaw(t, s)
	c.play()
	if err := c.nc.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	var rtpPackets uint32
	for {
		ch, b, err := c.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if ch == 0 {
			var p rtp.Packet
			if err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			seen[p.Timestamp] = true
			rtpPackets++
			continue
		}
		if ch != 1 || len(b) != 28 || b[0] != 0x80 || b[1] != 200 {
			t.Fatalf("channel %d: % x is not an SR", ch, b)
		}
		ssrc, ts, count := be32(b[4:]), be32(b[16:]), be32(b[20:])
		if ssrc != 0xcafe || !seen[ts] || count == 0 || count > rtpPackets {
			t.Fatalf("SR ssrc %x ts %d (sent: %v) packets %d of %d", ssrc, ts, seen[ts], count, rtpPackets)
		}
		ntpSec := int64(be32(b[8:])) - ntpEpochOffset
		if d := time.Since(time.Unix(ntpSec, 0)); d < -2*time.Second || d > 2*time.Second {
			t.Fatalf("SR NTP time off by %v", d)
		}
		return
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestPacing checks that frames are paced by decode time divided by Speed:
// never faster (a lower bound only; a loaded machine may be slower).
func TestPacing(t *testing.T) {
	t.Parallel()
	for _, speed := range []float64{1, 5} {
		t.Run(strconv.FormatFloat(speed, 'f', -1, 64), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Clip: ClipBase240, Speed: speed})
			c := dialRaw(t, s)
			c.play()
			const frames = 10
			var first time.Time
			for n := 0; n <= frames; {
				p, err := c.readRTP(time.Now().Add(testWait))
				if err != nil {
					t.Fatal(err)
				}
				if !p.Marker {
					continue
				}
				if n == 0 {
					first = time.Now()
				}
				n++
			}
			want := time.Duration(float64(frames*40*time.Millisecond) / speed)
			if el := time.Since(first); el < want*9/10 {
				t.Fatalf("%d frames in %v at speed %v, want at least %v", frames, el, speed, want)
			}
		})
	}
}

// TestMaxConns: past maxConns open connections, a new one is closed at
// once and counted, and the open ones keep working.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{})
	conns := make([]*rawClient, maxConns)
	for i := range conns {
		conns[i] = dialRaw(t, s)
	}
	waitFor(t, func() bool { return s.Stats().Connections == maxConns }, "all connections accepted")
	extra := dialRaw(t, s)
	if err := extra.nc.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	if n, err := extra.br.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("connection past the limit: read %d, err %v", n, err)
	}
	if st := s.Stats(); st.Rejected != 1 {
		t.Errorf("Rejected %d", st.Rejected)
	}
	if r := conns[maxConns-1].do("OPTIONS", conns[0].base); r.Status != 200 {
		t.Errorf("OPTIONS on an open connection: %d", r.Status)
	}
}

// TestWritePerPacket checks the two TCP write modes: by default every RTP
// packet is its own write (what real servers do, and what makes a client
// wake per packet); with FrameWrites a frame's packets share one writev.
// Both deliver the same contiguous packets.
func TestWritePerPacket(t *testing.T) {
	t.Parallel()
	for _, frameWrites := range []bool{false, true} {
		t.Run("FrameWrites="+strconv.FormatBool(frameWrites), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Clip: ClipMain720, Speed: testSpeed, FrameWrites: frameWrites})
			c := dialRaw(t, s)
			seq0 := rtpInfoSeq(t, c.play())
			pkts := collectRTP(t, c, 300)
			for i, p := range pkts {
				if got := p.SequenceNumber - seq0; got != uint16(i) {
					t.Fatalf("packet %d: seq offset %d", i, got)
				}
			}
			s.Close() // the streamer has ended: the counters are final
			st := s.Stats()
			if st.FramesSent < 10 || st.PacketsSent < 2*st.FramesSent {
				t.Fatalf("sent %d packets in %d frames: want several packets per frame", st.PacketsSent, st.FramesSent)
			}
			if frameWrites {
				// The last writev may have failed at Close: its frame is
				// not counted as sent.
				if st.MediaWrites != st.FramesSent && st.MediaWrites != st.FramesSent+1 {
					t.Errorf("%d writes for %d frames, want one per frame", st.MediaWrites, st.FramesSent)
				}
			} else if st.MediaWrites != st.PacketsSent {
				t.Errorf("%d writes for %d packets, want one per packet", st.MediaWrites, st.PacketsSent)
			}
		})
	}
}
