package testcam

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"
)

// testSpeed runs the clip 20 times faster than real time: a 4 s clip loops
// every 0.2 s, so tests see loops and faults quickly.
const testSpeed = 20

// testWait bounds every wait in the tests.
const testWait = 10 * time.Second

// receivedAU is one access unit decoded by gortsplib's H.264 decoder.
type receivedAU struct {
	NALUs [][]byte
	TS    uint32
	SSRC  uint32
}

// gortsplibSession is an independent RTSP client (gortsplib v5) playing
// the server's stream and decoding it with rtph264.
type gortsplibSession struct {
	c       *gortsplib.Client
	desc    *description.Session
	forma   *format.H264
	playRes *base.Response
	aus     chan receivedAU
	mu      sync.Mutex
	pkts    []rtp.Header
	errs    []error
	lost    uint64
	sdp     string
}

func startGortsplib(t *testing.T, rawURL string, proto gortsplib.Protocol) *gortsplibSession {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	g := &gortsplibSession{aus: make(chan receivedAU, 1024)}
	g.c = &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: testWait,
		OnPacketsLost: func(lost uint64) {
			g.mu.Lock()
			g.lost += lost
			g.mu.Unlock()
		},
		OnDecodeError: func(err error) {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
		},
	}
	if err := g.c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.c.Close)
	desc, res, err := g.c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	g.sdp = string(res.Body)
	g.desc = desc
	medi := desc.FindFormat(&g.forma)
	if medi == nil {
		t.Fatal("no H.264 format in SDP")
	}
	dec, err := g.forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatalf("SETUP: %v", err)
	}
	g.c.OnPacketRTP(medi, g.forma, func(pkt *rtp.Packet) {
		g.mu.Lock()
		g.pkts = append(g.pkts, pkt.Header)
		g.mu.Unlock()
		au, err := dec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) {
				g.mu.Lock()
				g.errs = append(g.errs, err)
				g.mu.Unlock()
			}
			return
		}
		select {
		case g.aus <- receivedAU{NALUs: au, TS: pkt.Timestamp, SSRC: pkt.SSRC}:
		default:
		}
	})
	g.playRes, err = g.c.Play(nil)
	if err != nil {
		t.Fatalf("PLAY: %v", err)
	}
	return g
}

func (g *gortsplibSession) next(t *testing.T) receivedAU {
	t.Helper()
	select {
	case au := <-g.aus:
		return au
	case <-time.After(testWait):
		t.Fatal("no access unit within", testWait)
		return receivedAU{}
	}
}

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestGortsplibPlay plays the stream with gortsplib over TCP and UDP with
// every auth scheme, and checks that the decoded access units are the
// clip's frames, with timestamps 3600 apart (25 fps), across a loop.
func TestGortsplibPlay(t *testing.T) {
	// UDP uses the small clip: at 20x speed the 4 Mbit/s clip would
	// overflow the socket buffers of eight parallel UDP receivers.
	protos := []struct {
		name  string
		proto gortsplib.Protocol
		clip  string
	}{{"tcp", gortsplib.ProtocolTCP, ClipMain720}, {"udp", gortsplib.ProtocolUDP, ClipBase240}}
	for _, p := range protos {
		clip, err := LoadClip(p.clip)
		if err != nil {
			t.Fatal(err)
		}
		for _, auth := range []string{AuthNone, AuthBasic, AuthDigest, AuthDigestSHA256} {
			name := p.name + "/" + auth
			if auth == "" {
				name += "none"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				o := Options{Clip: p.clip, Speed: testSpeed, Auth: auth}
				if auth != "" {
					o.Username, o.Password = "admin", "s3cr:t@/x"
				}
				if auth == AuthBasic {
					// Wrap both counters within the first loop (R14, R16).
					o.TimestampBase, o.SequenceBase = 0xffffffff-50*3600, 0xffff-40
				}
				s := startServer(t, o)
				g := startGortsplib(t, s.URL(), p.proto)

				var info headers.RTPInfo
				if err := info.Unmarshal(g.playRes.Header["RTP-Info"]); err != nil || len(info) != 1 {
					t.Fatalf("RTP-Info %v: %v", g.playRes.Header["RTP-Info"], err)
				}
				// One loop and a bit: frame i of the clip is AU i mod 100.
				n := len(clip.Frames) + 10
				var first uint32
				for i := range n {
					au := g.next(t)
					want := clip.Frames[i%len(clip.Frames)].NALUs
					if !equalNALUs(au.NALUs, want) {
						t.Fatalf("AU %d: got %d NALUs, differs from clip frame %d (%d NALUs)", i, len(au.NALUs), i%len(clip.Frames), len(want))
					}
					if i == 0 {
						first = au.TS
						if o.TimestampBase != 0 && first != o.TimestampBase {
							t.Errorf("first ts %d, want TimestampBase %d", first, o.TimestampBase)
						}
						if info[0].Timestamp == nil || *info[0].Timestamp != first {
							t.Errorf("RTP-Info rtptime %v, first packet ts %d", info[0].Timestamp, first)
						}
						continue
					}
					if got := au.TS - first; got != uint32(i*3600) {
						t.Fatalf("AU %d: ts offset %d, want %d", i, got, i*3600)
					}
				}
				g.mu.Lock()
				defer g.mu.Unlock()
				if o.SequenceBase != 0 && g.pkts[0].SequenceNumber != o.SequenceBase {
					t.Errorf("first seq %d, want SequenceBase %d", g.pkts[0].SequenceNumber, o.SequenceBase)
				}
				if *info[0].SequenceNumber != g.pkts[0].SequenceNumber {
					t.Errorf("RTP-Info seq %d, first packet seq %d", *info[0].SequenceNumber, g.pkts[0].SequenceNumber)
				}
				for i := 1; i < len(g.pkts); i++ {
					if g.pkts[i].SequenceNumber != g.pkts[i-1].SequenceNumber+1 {
						t.Fatalf("packet %d: seq %d after %d", i, g.pkts[i].SequenceNumber, g.pkts[i-1].SequenceNumber)
					}
				}
				if len(g.errs) > 0 || g.lost > 0 {
					t.Errorf("decoder errors %v, %d packets lost", g.errs, g.lost)
				}
			})
		}
	}
}

func equalNALUs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestGortsplibKeepaliveTeardown runs a session that needs keepalives
// (RequireKeepalive, timeout 2 s: gortsplib sends one every second) for
// longer than the timeout, then closes the client, which sends TEARDOWN.
func TestGortsplibKeepaliveTeardown(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Clip: ClipBase240, SessionTimeout: 2, RequireKeepalive: true})
	g := startGortsplib(t, s.URL(), gortsplib.ProtocolTCP)
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		g.next(t)
	}
	st := s.Stats()
	if st.Keepalives < 1 || st.Expired != 0 || st.ActiveSessions != 1 {
		t.Fatalf("after 2.5 s with keepalives: %+v", st)
	}
	g.c.Close()
	waitFor(t, func() bool { st = s.Stats(); return st.Teardowns == 1 && st.ActiveSessions == 0 }, "TEARDOWN counted")
}

// waitFor polls cond until it holds or testWait passes.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(testWait); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestGortsplibSprop checks the SDP variants through gortsplib's parser
// (QUIRKS.md: empty sprop, HIK Media Server; sprop missing PPS, Hikvision).
func TestGortsplibSprop(t *testing.T) {
	clip, err := LoadClip(ClipHigh360BFrame)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name         string
		o            Options
		wantSPS, PPS bool   // what gortsplib takes from the SDP (it needs both)
		sprop        string // the fmtp parameter in the SDP
	}{
		{"full", Options{}, true, true, "sprop-parameter-sets=" + b64(clip.SPS) + "," + b64(clip.PPS) + "\r"},
		{"no-sprop", Options{NoSprop: true}, false, false, ""},
		{"sps-only", Options{SpropOnlySPS: true}, false, false, "sprop-parameter-sets=" + b64(clip.SPS) + "\r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.o.Clip, tc.o.Speed = ClipHigh360BFrame, testSpeed
			s := startServer(t, tc.o)
			g := startGortsplib(t, s.URL(), gortsplib.ProtocolTCP)
			if got := g.forma.SPS != nil; got != tc.wantSPS || got && !bytes.Equal(g.forma.SPS, clip.SPS) {
				t.Errorf("SPS from SDP %x, want present=%v", g.forma.SPS, tc.wantSPS)
			}
			if got := g.forma.PPS != nil; got != tc.PPS || got && !bytes.Equal(g.forma.PPS, clip.PPS) {
				t.Errorf("PPS from SDP %x, want present=%v", g.forma.PPS, tc.PPS)
			}
			if tc.sprop != "" && !strings.Contains(g.sdp, tc.sprop) || tc.sprop == "" && strings.Contains(g.sdp, "sprop") {
				t.Errorf("SDP %q, want %q", g.sdp, tc.sprop)
			}
			if g.forma.PacketizationMode != 1 {
				t.Errorf("packetization-mode %d", g.forma.PacketizationMode)
			}
			// In-band parameter sets come with the first AU regardless.
			au := g.next(t)
			if !equalNALUs(au.NALUs, clip.Frames[0].NALUs) {
				t.Fatal("first AU is not the clip's first frame")
			}
			// B-frames: RTP timestamps follow PTS, not decode order.
			for i := 1; i < 8; i++ {
				next := g.next(t)
				if d := int64(int32(next.TS - au.TS)); d != clip.Frames[i].PTS-clip.Frames[0].PTS {
					t.Fatalf("frame %d: ts offset %d, want %d", i, d, clip.Frames[i].PTS)
				}
			}
		})
	}
}

// TestGortsplibSSRC checks a fixed, announced SSRC reaches the client in
// the Transport header, in RTP-Info and in the packets.
func TestGortsplibSSRC(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Speed: testSpeed, SSRC: 0xdeadbeef, AnnounceSSRC: true})
	g := startGortsplib(t, s.URL(), gortsplib.ProtocolTCP)
	if au := g.next(t); au.SSRC != 0xdeadbeef {
		t.Errorf("SSRC %08x", au.SSRC)
	}
	if ri := strings.Join(g.playRes.Header["RTP-Info"], ","); !strings.Contains(ri, "ssrc=DEADBEEF") {
		t.Errorf("RTP-Info %q lacks ssrc", ri)
	}
}

// TestGortsplibStreams plays each extra stream of one server and checks
// that each path serves its own clip.
func TestGortsplibStreams(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{Clip: ClipBase240, Speed: testSpeed, Auth: AuthDigest, Username: testUser, Password: testPass,
		Streams: map[string]string{"sub": ClipHigh360BFrame, "/live/main/": ClipMain720}})
	for path, name := range map[string]string{"/cam": ClipBase240, "/sub": ClipHigh360BFrame, "/live/main": ClipMain720} {
		clip, err := LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		g := startGortsplib(t, s.URLFor(path), gortsplib.ProtocolTCP)
		for i := range 3 {
			if au := g.next(t); !equalNALUs(au.NALUs, clip.Frames[i].NALUs) {
				t.Fatalf("%s: AU %d is not frame %d of %s", path, i, i, name)
			}
		}
		if !bytes.Equal(g.forma.SPS, clip.SPS) {
			t.Errorf("%s: SDP SPS is not %s's", path, name)
		}
	}
	if s.URLFor("/cam") != s.URL() {
		t.Errorf("URLFor(/cam) %q, URL %q", s.URLFor("/cam"), s.URL())
	}
	if st := s.Stats(); st.ActiveSessions != 3 {
		t.Errorf("ActiveSessions %d", st.ActiveSessions)
	}
	for _, path := range []string{"/cam", "sub", "/live/main/"} {
		if created, active := s.PathSessions(path); created != 1 || active != 1 {
			t.Errorf("PathSessions(%s) = %d, %d; want 1, 1", path, created, active)
		}
	}
	if created, active := s.PathSessions("/nope"); created != 0 || active != 0 {
		t.Errorf("PathSessions of an unknown path = %d, %d", created, active)
	}
}
