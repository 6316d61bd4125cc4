package testcam

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// TestResponseFaults checks each malformed DESCRIBE response
// (RELIABILITY.md R1–R4) as bytes on the wire.
func TestResponseFaults(t *testing.T) {
	for _, tc := range []struct {
		response string
		check    func(t *testing.T, c *rawClient, s *Server)
	}{
		{ResponseBadContentLength, func(t *testing.T, c *rawClient, s *Server) {
			head := readHead(t, c)
			if !strings.Contains(head, "\r\nContent-Length: 1000000000000\r\n") || !strings.HasPrefix(head, "RTSP/1.0 200") {
				t.Fatalf("head %q", head)
			}
			// The body that follows is only the real SDP.
			sdp := make([]byte, len(s.main.sdp))
			if _, err := io.ReadFull(c.br, sdp); err != nil || !bytes.Equal(sdp, s.main.sdp) {
				t.Fatalf("body %q: %v", sdp, err)
			}
		}},
		{ResponseHugeHeaders, func(t *testing.T, c *rawClient, s *Server) {
			head := readHead(t, c)
			if n := strings.Count(head, "\r\n"); n < hugeHeaderCount {
				t.Fatalf("%d header lines", n)
			}
		}},
		{ResponseDrip, func(t *testing.T, c *rawClient, s *Server) {
			// Bytes trickle in: the first promptly, then one per
			// DripInterval, so 10 bytes take 9 intervals from the first
			// one's sending. The clock starts after DESCRIBE went out, so
			// the first byte may have been sent up to a scheduling delay
			// before it: one interval of the 9 is allowed for that.
			var got []byte
			start := time.Now()
			buf := make([]byte, 64)
			for len(got) < 10 {
				n, err := c.nc.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, buf[:n]...)
			}
			if el := time.Since(start); el < 8*dripTestInterval {
				t.Fatalf("%d bytes in %v, interval %v", len(got), el, dripTestInterval)
			}
			if want := "RTSP/1.0 200 OK\r\n"; !strings.HasPrefix(want, string(got)) && !strings.HasPrefix(string(got), want) {
				t.Fatalf("dripped %q", got)
			}
		}},
		{ResponseGarbage, func(t *testing.T, c *rawClient, s *Server) {
			b := make([]byte, garbageBytes)
			if _, err := io.ReadFull(c.br, b); err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(b, []byte("RTSP")) || b[0] == '$' {
				t.Fatalf("garbage starts like RTSP: %q", b[:8])
			}
		}},
		{ResponseSilent, func(t *testing.T, c *rawClient, s *Server) {
			if err := c.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			n, err := c.br.Read(make([]byte, 1))
			if n != 0 || !isTimeout(err) {
				t.Fatalf("silent server sent %d bytes (err %v)", n, err)
			}
		}},
	} {
		t.Run(tc.response, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Options{Response: tc.response, DripInterval: dripTestInterval})
			c := dialRaw(t, s)
			// OPTIONS is still answered normally, except by "silent":
			// the fault is DESCRIBE's.
			if tc.response != ResponseSilent {
				if r := c.do("OPTIONS", c.base); r.Status != 200 {
					t.Fatalf("OPTIONS %d", r.Status)
				}
			} else {
				c.send("OPTIONS", c.base)
			}
			if err := c.nc.SetReadDeadline(time.Now().Add(testWait)); err != nil {
				t.Fatal(err)
			}
			c.send("DESCRIBE", c.base)
			tc.check(t, c, s)
		})
	}
}

// dripTestInterval is the byte interval of the drip fault in tests.
const dripTestInterval = 20 * time.Millisecond

// readHead reads a response's status line and headers, bounded at 1 MB.
func readHead(t *testing.T, c *rawClient) string {
	t.Helper()
	var b strings.Builder
	for b.Len() < 1<<20 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
	t.Fatal("head over 1 MB")
	return ""
}

// TestSPSChange (RELIABILITY.md R18, QUIRKS.md "SPS changes mid-stream"):
// after SPSChangeAfter the stream switches, at a keyframe, to the other
// clip, whose SPS/PPS come in-band; RTP time stays continuous.
func TestSPSChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ from, to string }{
		{ClipMain720, ClipBase240},
		{ClipHigh360BFrame, ClipBase240},
		{ClipBase240, ClipMain720},
	} {
		t.Run(tc.from, func(t *testing.T) {
			t.Parallel()
			from, err := LoadClip(tc.from)
			if err != nil {
				t.Fatal(err)
			}
			to, err := LoadClip(tc.to)
			if err != nil {
				t.Fatal(err)
			}
			s := startServer(t, Options{Clip: tc.from, Speed: testSpeed, SPSChangeAfter: 100 * time.Millisecond, MaxPacketSize: 1400})
			c := dialRaw(t, s)
			c.play()
			dec := rtph264.Decoder{PacketizationMode: 1}
			if err := dec.Init(); err != nil {
				t.Fatal(err)
			}
			type au struct {
				nalus [][]byte
				ts    uint32
			}
			var aus []au
			end := time.Now().Add(testWait)
			for switched := -1; switched < 0 || len(aus) < switched+len(to.Frames)+5; {
				p, err := c.readRTP(end)
				if err != nil {
					t.Fatal(err)
				}
				nalus, err := dec.Decode(p)
				if errors.Is(err, rtph264.ErrMorePacketsNeeded) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				aus = append(aus, au{nalus, p.Timestamp})
				if switched < 0 && containsNALU(nalus, to.SPS) {
					switched = len(aus) - 1
				}
			}
			var k int
			for k = range aus {
				if containsNALU(aus[k].nalus, to.SPS) {
					break
				}
			}
			// Before the switch: the old clip, frame by frame.
			for i := range k {
				if !equalNALUs(aus[i].nalus, from.Frames[i%len(from.Frames)].NALUs) {
					t.Fatalf("AU %d is not frame %d of %s", i, i%len(from.Frames), tc.from)
				}
			}
			// The switch happens where the old clip had a keyframe next.
			if !from.Frames[k%len(from.Frames)].Keyframe {
				t.Errorf("switched before old frame %d, not a keyframe", k%len(from.Frames))
			}
			// After: the new clip from its first frame, in-band SPS/PPS.
			for i := k; i < len(aus); i++ {
				if !equalNALUs(aus[i].nalus, to.Frames[(i-k)%len(to.Frames)].NALUs) {
					t.Fatalf("AU %d is not frame %d of %s", i, i-k, tc.to)
				}
			}
			if !containsNALU(aus[k].nalus, to.PPS) {
				t.Error("no in-band PPS at the switch")
			}
			// Presentation time continues: the new keyframe takes the
			// place of the old clip's keyframe.
			oldKey := int64(k/len(from.Frames))*from.Duration + from.Frames[k%len(from.Frames)].PTS
			if got := int64(aus[k].ts - aus[0].ts); got != oldKey {
				t.Errorf("switch at ts offset %d, want %d", got, oldKey)
			}
			if d := aus[k+1].ts - aus[k].ts; int64(d) != to.Frames[1].PTS-to.Frames[0].PTS {
				t.Errorf("ts step after switch %d", d)
			}
		})
	}
}

func containsNALU(nalus [][]byte, n []byte) bool {
	for _, x := range nalus {
		if bytes.Equal(x, n) {
			return true
		}
	}
	return false
}

// TestCloseLeavesNoGoroutines opens sessions in every state (playing over
// TCP and UDP, stalled, dripping, silent, idle, half-sent request), closes
// the server and checks that every goroutine it started has ended.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	before := runtime.NumGoroutine()
	servers := map[string]*Server{}
	for name, o := range map[string]Options{
		"play":   {Clip: ClipBase240, Speed: testSpeed},
		"stall":  {Clip: ClipBase240, StallAfter: time.Millisecond},
		"drip":   {Response: ResponseDrip},
		"silent": {Response: ResponseSilent},
		"close":  {Clip: ClipBase240, CloseAfter: 10 * time.Millisecond},
	} {
		s, err := Start(o)
		if err != nil {
			t.Fatal(err)
		}
		servers[name] = s
	}
	for _, name := range []string{"play", "stall", "close"} {
		dialRaw(t, servers[name]).play()
	}
	udp := dialRaw(t, servers["play"])
	if r := udp.do("SETUP", udp.base+"/"+trackControl, "Transport: RTP/AVP;unicast;client_port=9-10"); r.Status != 200 {
		t.Fatalf("SETUP %d", r.Status)
	}
	for _, name := range []string{"drip", "silent"} {
		dialRaw(t, servers[name]).send("DESCRIBE", "rtsp://"+servers[name].Addr()+"/cam")
	}
	half := dialRaw(t, servers["play"])
	if _, err := half.nc.Write([]byte("OPTIONS rtsp://x/cam RTSP/1.0\r\nCSe")); err != nil {
		t.Fatal(err)
	}
	dialRaw(t, servers["play"]) // idle
	waitFor(t, func() bool { return servers["play"].Stats().Connections == 4 }, "connections accepted")
	if runtime.NumGoroutine() <= before {
		t.Fatal("servers started no goroutines?")
	}
	for _, s := range servers {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	// Close has waited for the server's goroutines; the runtime may take
	// a moment to retire them (and unrelated ones from earlier tests).
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines back to the baseline")
	if st := servers["play"].Stats(); st.ActiveSessions != 0 {
		t.Errorf("ActiveSessions %d after Close", st.ActiveSessions)
	}
}

// TestStatsCount checks frames, packets and bytes against what a client
// received, over one whole clip.
func TestStatsCount(t *testing.T) {
	t.Parallel()
	clip, err := LoadClip(ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, StallAfter: time.Duration(float64(clip.Duration)/90000/testSpeed*float64(time.Second)) - 2*time.Millisecond})
	c := dialRaw(t, s)
	c.play()
	var pkts, bytes, markers int64
	for {
		p, err := c.readRTP(time.Now().Add(300 * time.Millisecond))
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
		pkts++
		bytes += int64(12 + len(p.Payload))
		if p.Marker {
			markers++
		}
	}
	st := s.Stats()
	if st.PacketsSent != pkts || st.BytesSent != bytes || pkts == 0 {
		t.Errorf("stats %+v; client got %d packets, %d bytes", st, pkts, bytes)
	}
	if st.FramesSent != markers || st.FramesSent > int64(len(clip.Frames)) {
		t.Errorf("FramesSent %d, client saw %d marker bits, stall within the first %d-frame loop", st.FramesSent, markers, len(clip.Frames))
	}
	if st.Sessions != 1 || st.Plays != 1 || st.Connections != 1 {
		t.Errorf("stats %+v", st)
	}
}
