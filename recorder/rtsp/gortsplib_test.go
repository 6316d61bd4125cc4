package rtsp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
)

// refServer is gortsplib's RTSP server (an independent implementation)
// serving a testcam clip as H.264 RTP.
type refServer struct {
	t           *testing.T
	srv         *gortsplib.Server
	stream      *gortsplib.ServerStream
	media       *description.Media
	user        string
	pass        string
	addr        string
	stop        chan struct{}
	wg          sync.WaitGroup
	audio       *description.Media // a PCMA track after the video, when refOptions.audio
	refuseAudio bool
	torndown    atomic.Int32
	closed      atomic.Int32
	methods     sync.Map // method -> count
}

func (h *refServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.closed.Add(1)
	var td liberrors.ErrServerSessionTornDown
	if errors.As(ctx.Error, &td) {
		h.torndown.Add(1)
	}
}

func (h *refServer) OnRequest(_ *gortsplib.ServerConn, req *base.Request) {
	v, _ := h.methods.LoadOrStore(string(req.Method), new(atomic.Int32))
	v.(*atomic.Int32).Add(1)
}

func (h *refServer) count(method string) int {
	v, ok := h.methods.Load(method)
	if !ok {
		return 0
	}
	return int(v.(*atomic.Int32).Load())
}

func (h *refServer) check(ctx *gortsplib.ServerConn, req *base.Request) bool {
	return h.user == "" || ctx.VerifyCredentials(req, h.user, h.pass)
}

func (h *refServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !h.check(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	if ctx.Path != "/cam" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *refServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !h.check(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	if h.refuseAudio && strings.HasSuffix(ctx.Request.URL.String(), "trackID=1") {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *refServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *refServer) OnGetParameter(*gortsplib.ServerHandlerOnGetParameterCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func startRefServer(t *testing.T, user, pass string, methods []auth.VerifyMethod, idle time.Duration) *refServer {
	t.Helper()
	return startRefServerWith(t, refOptions{user: user, pass: pass, methods: methods, idle: idle})
}

// refOptions configure a refServer beyond credentials.
type refOptions struct {
	user, pass  string
	methods     []auth.VerifyMethod
	idle        time.Duration
	tls         *tls.Config // RTSPS (TCP only)
	addr        string      // listen address, default 127.0.0.1:0
	audio       bool        // add a G.711 A-law track, 20 ms packets
	refuseAudio bool        // answer the audio track's SETUP with 461
	// senderReports: every 100 ms, an RTCP sender report on each track
	// (srVideoNTP/srAudioNTP plus the tick, the tick's RTP time).
	senderReports bool
}

// The NTP timestamps of a refServer's sender reports: the tick number is
// added to the fraction.
const (
	srVideoNTP = 0xE000_0000_1000_0000
	srAudioNTP = 0xE000_0001_2000_0000
)

func startRefServerWith(t *testing.T, o refOptions) *refServer {
	t.Helper()
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	h := &refServer{t: t, user: o.user, pass: o.pass, stop: make(chan struct{}), refuseAudio: o.refuseAudio}
	h.srv = &gortsplib.Server{
		Handler:     h,
		RTSPAddress: cmp.Or(o.addr, "127.0.0.1:0"),
		AuthMethods: o.methods,
		IdleTimeout: o.idle,
		TLSConfig:   o.tls,
	}
	if o.tls == nil {
		rtpPort := freeUDPPair(t)
		h.srv.UDPRTPAddress = "127.0.0.1:" + itoa(rtpPort)
		h.srv.UDPRTCPAddress = "127.0.0.1:" + itoa(rtpPort+1)
	}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.addr = h.srv.NetListener().Addr().String()
	forma := &format.H264{PayloadTyp: 96, SPS: clip.SPS, PPS: clip.PPS, PacketizationMode: 1}
	h.media = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	medias := []*description.Media{h.media}
	alaw := &format.G711{PayloadTyp: 8, MULaw: false, SampleRate: 8000, ChannelCount: 1}
	if o.audio {
		h.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{alaw}}
		medias = append(medias, h.audio)
	}
	h.stream = &gortsplib.ServerStream{Server: h.srv, Desc: &description.Session{Medias: medias}}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := alaw.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var base int64
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			f := clip.Frames[i%len(clip.Frames)]
			if i > 0 && i%len(clip.Frames) == 0 {
				base += clip.Duration
			}
			pkts, err := enc.Encode(f.NALUs)
			if err != nil {
				continue
			}
			for _, p := range pkts {
				p.Timestamp = uint32(base + f.PTS)
				_ = h.stream.WritePacketRTP(h.media, p)
			}
			if o.senderReports && i%10 == 0 {
				_ = h.stream.WritePacketRTCP(h.media, &rtcp.SenderReport{SSRC: 0x1111, NTPTime: srVideoNTP + uint64(i), RTPTime: uint32(base + f.PTS)})
				if h.audio != nil {
					_ = h.stream.WritePacketRTCP(h.audio, &rtcp.SenderReport{SSRC: 0x2222, NTPTime: srAudioNTP + uint64(i), RTPTime: uint32(i / 2 * 160)})
				}
			}
			if h.audio != nil && i%2 == 0 {
				aps, err := aenc.Encode(make([]byte, 160))
				if err == nil {
					for _, p := range aps {
						p.Timestamp = uint32(i / 2 * 160)
						_ = h.stream.WritePacketRTP(h.audio, p)
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(h.stop)
		h.wg.Wait()
		h.stream.Close()
		h.srv.Close()
	})
	return h
}

func itoa(n int) string { return strconv.Itoa(n) }

// freeUDPPair finds an even port whose successor is free too.
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		a.Close()
		if err == nil {
			b.Close()
			if p%2 == 0 {
				return p
			}
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}

// waitGoroutines waits until the goroutine count is back to base: every
// goroutine the session started has ended.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d > baseline %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgainstGortsplib(t *testing.T) {
	cases := []struct {
		name      string
		transport string
		user      string
		methods   []auth.VerifyMethod
	}{
		{"tcp no auth", "tcp", "", nil},
		{"udp no auth", "udp", "", nil},
		{"tcp digest md5", "tcp", "admin", []auth.VerifyMethod{auth.VerifyMethodDigestMD5}},
		{"udp digest md5", "udp", "admin", []auth.VerifyMethod{auth.VerifyMethodDigestMD5}},
		{"tcp digest sha256", "tcp", "admin", []auth.VerifyMethod{auth.VerifyMethodDigestSHA256}},
		// gortsplib splits Basic credentials at every ':', so this case
		// keeps ':' out of the password (RFC 7617 allows it).
		{"tcp basic", "tcp", "admin", []auth.VerifyMethod{auth.VerifyMethodBasic}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pass, escaped := "s3cr:t@/x", "s3cr%3At%40%2Fx"
			if tc.name == "tcp basic" {
				pass, escaped = "s3cr@/x", "s3cr%40%2Fx"
			}
			srv := startRefServer(t, tc.user, pass, tc.methods, 0)
			base := runtime.NumGoroutine()
			url := "rtsp://" + srv.addr + "/cam"
			if tc.user != "" {
				url = "rtsp://" + tc.user + ":" + escaped + "@" + srv.addr + "/cam"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := Open(ctx, Config{URL: url, Transport: tc.transport, MediaTimeout: 3 * time.Second})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			info := s.Info()
			if info.Video.Codec != "H264" || info.Video.ClockRate != 90000 || info.Video.PacketizationMode != 1 {
				t.Errorf("video track = %+v", info.Video)
			}
			if info.Video.SpropParameterSets == "" || info.Video.ProfileLevelID == "" {
				t.Errorf("sprop/profile missing: %+v", info.Video)
			}
			if !strings.HasPrefix(info.Video.Control, "rtsp://"+srv.addr+"/cam") {
				t.Errorf("control = %q", info.Video.Control)
			}
			if info.Transport != tc.transport {
				t.Errorf("transport = %q", info.Transport)
			}
			if len(info.Methods) == 0 {
				t.Errorf("no methods from OPTIONS")
			}
			if strings.Contains(info.URL, "s3cr") {
				t.Errorf("Info.URL leaks the password: %q", info.URL)
			}
			got := 0
			rctx, rcancel := context.WithCancel(ctx)
			err = s.ReadPackets(rctx, func(p *rtp.Packet) error {
				if p.PayloadType != 96 || len(p.Payload) == 0 {
					t.Errorf("packet pt=%d len=%d", p.PayloadType, len(p.Payload))
				}
				got++
				if got == 50 {
					rcancel()
				}
				return nil
			})
			rcancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("ReadPackets = %v, want context.Canceled", err)
			}
			if st := s.Stats(); st.Packets < 50 || st.Bytes == 0 {
				t.Errorf("stats = %+v", st)
			}
			s.Close()
			waitGoroutines(t, base)
			deadline := time.Now().Add(2 * time.Second)
			for srv.torndown.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if srv.torndown.Load() != 1 {
				t.Errorf("server saw %d TEARDOWNs, want 1", srv.torndown.Load())
			}
		})
	}
}

func TestGortsplibWrongPassword(t *testing.T) {
	srv := startRefServer(t, "admin", "right", []auth.VerifyMethod{auth.VerifyMethodDigestMD5}, 0)
	_, err := Open(context.Background(), Config{URL: "rtsp://admin:wrongpw@" + srv.addr + "/cam"})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrongpw") {
		t.Fatalf("error leaks the password: %v", err)
	}
	_, err = Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/cam"})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("no credentials: err = %v, want ErrAuth", err)
	}
}

func TestGortsplibNotFound(t *testing.T) {
	srv := startRefServer(t, "", "", nil, 0)
	_, err := Open(context.Background(), Config{URL: "rtsp://" + srv.addr + "/nope"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// TestGortsplibKeepalive: with a 2 s idle timeout gortsplib announces
// timeout=1 and closes a UDP session that sends neither RTSP requests nor
// RTCP within it. Receiver reports are switched off here, so only our
// keepalives keep the session alive for three times that long (F3).
func TestGortsplibKeepalive(t *testing.T) {
	for _, tc := range []struct{ transport, user string }{{"udp", ""}, {"tcp", ""}, {"udp", "admin"}} {
		t.Run(tc.transport+" "+tc.user, func(t *testing.T) {
			t.Parallel() // each waits 3 s; no goroutine counting here
			transport := tc.transport
			srv := startRefServer(t, tc.user, "pw", []auth.VerifyMethod{auth.VerifyMethodDigestMD5}, 2*time.Second)
			ctx := context.Background()
			url := "rtsp://" + srv.addr + "/cam"
			if tc.user != "" {
				url = "rtsp://admin:pw@" + srv.addr + "/cam"
			}
			s, err := Open(ctx, Config{URL: url, Transport: transport, MediaTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Info().SessionTimeout; got != time.Second {
				t.Fatalf("session timeout = %v", got)
			}
			s.rrInterval = time.Hour
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			err = s.ReadPackets(rctx, func(*rtp.Packet) error { return nil })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ReadPackets = %v, want the test's deadline (session kept alive)", err)
			}
			if n := s.Stats().KeepalivesSent; n < 4 {
				t.Errorf("keepalives sent = %d, want >= 4", n)
			}
			if srv.count("GET_PARAMETER") < 4 {
				t.Errorf("server saw %d GET_PARAMETER", srv.count("GET_PARAMETER"))
			}
			if srv.closed.Load() != 0 {
				t.Errorf("server closed the session")
			}
		})
	}
}
