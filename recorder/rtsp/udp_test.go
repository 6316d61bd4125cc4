package rtsp

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/recorder/rtsp/rtspmsg"
	"github.com/pion/rtp"
)

// udpCamera is a scripted camera whose media goes over UDP.
type udpCamera struct {
	rtpConn, rtcpConn *net.UDPConn
	clientPort        int
	ready             chan struct{}
}

func newUDPCamera(t *testing.T) *udpCamera {
	t.Helper()
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return &udpCamera{rtpConn: a, rtcpConn: b, ready: make(chan struct{})}
}

func (u *udpCamera) handler(withServerPort bool) fakeHandler {
	base := script{}.handler()
	return func(c *fakeConn, r *fakeReq) bool {
		if r.method != "SETUP" {
			ok := base(c, r)
			if r.method == "PLAY" {
				close(u.ready)
			}
			return ok
		}
		tr := r.header.Get("Transport")
		_, ports, _ := strings.Cut(tr, "client_port=")
		if ts, _ := rtspmsg.ParseTransport(tr); len(ts) > 0 {
			u.clientPort = ts[0].ClientPort[0]
		}
		reply := "Transport: RTP/AVP;unicast;client_port=" + ports
		if withServerPort {
			reply += ";server_port=" + itoa(u.rtpConn.LocalAddr().(*net.UDPAddr).Port) + "-" + itoa(u.rtcpConn.LocalAddr().(*net.UDPAddr).Port)
		}
		c.send("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n" + reply + "\r\nSession: 55;timeout=60\r\n\r\n")
		return true
	}
}

func (u *udpCamera) to() *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: u.clientPort}
}

func TestUDP(t *testing.T) {
	cases := []struct {
		name       string
		serverPort bool
		wantSpoof  uint64 // datagrams dropped as from the wrong source
	}{
		{"with server_port: other ports and IPs dropped (R19)", true, 2},
		{"without server_port: other IPs dropped", false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cam := newUDPCamera(t)
			s, srv := openFake(t, cam.handler(tc.serverPort), Config{Transport: "udp", MediaTimeout: 2 * time.Second})
			if !strings.Contains(srv.find("SETUP")[0].header.Get("Transport"), "RTP/AVP;unicast;client_port=") {
				t.Fatalf("SETUP Transport = %q", srv.find("SETUP")[0].header.Get("Transport"))
			}
			if cam.clientPort%2 != 0 {
				t.Errorf("client RTP port %d is odd", cam.clientPort)
			}
			<-cam.ready
			otherPort, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer otherPort.Close()
			otherIP, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
			if err != nil {
				t.Fatalf("127.0.0.2 (loopback) not usable: %v", err)
			}
			defer otherIP.Close()

			big := rtpBytes(96, 1, 0, 9, 10000-12) // Tapo: 10,000-byte datagrams
			_, _ = otherIP.WriteToUDP(rtpBytes(96, 100, 0, 9, 10), cam.to())
			if tc.serverPort {
				_, _ = otherPort.WriteToUDP(rtpBytes(96, 101, 0, 9, 10), cam.to())
			}
			_, _ = cam.rtpConn.WriteToUDP(big, cam.to())
			_, _ = cam.rtpConn.WriteToUDP(rtpBytes(96, 2, 0, 9, 10), cam.to())
			sr := make([]byte, 28)
			sr[0], sr[1], sr[3] = 0x80, 200, 6
			_, _ = cam.rtcpConn.WriteToUDP(sr, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: cam.clientPort + 1})

			var sizes []int
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = s.ReadPackets(ctx, func(p *rtp.Packet) error {
				sizes = append(sizes, len(p.Payload))
				if p.SequenceNumber == 2 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("ReadPackets = %v", err)
			}
			if len(sizes) != 2 || sizes[0] != 10000-12 {
				t.Errorf("payload sizes = %v", sizes)
			}
			st := s.Stats()
			if st.DroppedWrongSource != tc.wantSpoof {
				t.Errorf("dropped wrong source = %d, want %d", st.DroppedWrongSource, tc.wantSpoof)
			}
			if tc.serverPort {
				// The receiver report sent after PLAY reaches the server's RTCP port.
				buf := make([]byte, 1500)
				_ = cam.rtcpConn.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, _, err := cam.rtcpConn.ReadFromUDP(buf)
				if err != nil || n < 8 || buf[1] != 201 {
					t.Errorf("no receiver report: n=%d err=%v", n, err)
				}
			}
		})
	}
}

// TestUDPControlClosed: over UDP the control connection is still watched;
// the server closing it ends ReadPackets with ErrClosed.
func TestUDPControlClosed(t *testing.T) {
	cam := newUDPCamera(t)
	h := cam.handler(true)
	var srvConn *fakeConn
	s, _ := openFake(t, func(c *fakeConn, r *fakeReq) bool {
		srvConn = c
		return h(c, r)
	}, Config{Transport: "udp"})
	<-cam.ready
	time.AfterFunc(100*time.Millisecond, func() { srvConn.Close() })
	start := time.Now()
	err := s.ReadPackets(context.Background(), func(*rtp.Packet) error { return nil })
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrClosed) || e.Step != "read" || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// TestUDPMediaTimeout (F2) over UDP.
func TestUDPMediaTimeout(t *testing.T) {
	cam := newUDPCamera(t)
	s, _ := openFake(t, cam.handler(true), Config{Transport: "udp", MediaTimeout: 300 * time.Millisecond})
	err := s.ReadPackets(context.Background(), func(*rtp.Packet) error { return nil })
	if !errors.Is(err, ErrMediaTimeout) {
		t.Fatalf("err = %v", err)
	}
}
