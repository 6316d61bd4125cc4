package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcert"
)

// RTSPS against gortsplib's server with TLS, an independent implementation.

// readSome reads n packets from an open session.
func readSome(t *testing.T, s *Session, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := 0
	err := s.ReadPackets(ctx, func(p *rtp.Packet) error {
		// Plain RTP inside TLS, not SRTP: an H.264 payload (RFC 6184 §5.2
		// NAL types 1-23, STAP-A 24, FU-A 28).
		if nal := p.Payload[0] & 0x1f; p.PayloadType != 96 || p.Payload[0]&0x80 != 0 || nal == 0 || (nal > 24 && nal != 28) {
			t.Errorf("packet pt=%d payload % x", p.PayloadType, p.Payload[:min(8, len(p.Payload))])
		}
		if got++; got == n {
			cancel()
		}
		return nil
	})
	if got < n || !errors.Is(err, context.Canceled) {
		t.Fatalf("read %d packets, then %v", got, err)
	}
}

func TestRTSPS(t *testing.T) {
	self := testcert.SelfSigned(t, "127.0.0.1")
	other := testcert.SelfSigned(t, "127.0.0.1")
	ca := testcert.NewCA(t)
	issued := ca.Issue(t, "127.0.0.1")
	selfFP, otherFP := Fingerprint(self.DER()), Fingerprint(other.DER())
	const pass = "tls-s3cret"

	srv := startRefServerWith(t, refOptions{user: "admin", pass: pass, methods: []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
		tls: &tls.Config{Certificates: []tls.Certificate{self.TLS}}})
	url := "rtsps://admin:" + pass + "@" + srv.addr + "/cam"

	t.Run("pinned", func(t *testing.T) {
		// Upper case with colons, as openssl prints it, is the same pin.
		pin := "SHA256:" + strings.ToUpper(strings.TrimPrefix(selfFP, "sha256:"))
		s, err := Open(context.Background(), Config{URL: url, TLSFingerprint: pin, MediaTimeout: 3 * time.Second})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if got := s.Info().TLSFingerprint; got != selfFP {
			t.Errorf("Info.TLSFingerprint = %q, want %q", got, selfFP)
		}
		if !strings.HasPrefix(s.Info().Video.Control, "rtsps://") {
			t.Errorf("control URL %q is not rtsps", s.Info().Video.Control)
		}
		readSome(t, s, 30)
	})
	t.Run("unpinned self-signed names the fingerprint to pin", func(t *testing.T) {
		_, err := Open(context.Background(), Config{URL: url})
		if !errors.Is(err, ErrCertificate) {
			t.Fatalf("Open = %v, want ErrCertificate", err)
		}
		msg := err.Error()
		t.Log(msg)
		if !strings.Contains(msg, "tls_fingerprint: "+selfFP) || strings.Contains(msg, pass) || strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("error %q should name %s in one line without the password", msg, selfFP)
		}
	})
	t.Run("wrong pin names both fingerprints", func(t *testing.T) {
		_, err := Open(context.Background(), Config{URL: url, TLSFingerprint: otherFP})
		if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), selfFP) || !strings.Contains(err.Error(), otherFP) {
			t.Fatalf("Open = %v, want ErrCertificate naming %s and %s", err, selfFP, otherFP)
		}
		t.Log(err)
	})
	t.Run("trusted through a CA, unpinned", func(t *testing.T) {
		ok := startRefServerWith(t, refOptions{tls: &tls.Config{Certificates: []tls.Certificate{issued.TLS}}})
		s, err := Open(context.Background(), Config{URL: "rtsps://" + ok.addr + "/cam", RootCAs: ca.Pool()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		readSome(t, s, 10)
		s.Close()
		// The same certificate for another name is refused.
		_, err = Open(context.Background(), Config{URL: "rtsps://localhost:" + portOf(ok.addr) + "/cam", RootCAs: ca.Pool()})
		if !errors.Is(err, ErrCertificate) {
			t.Fatalf("wrong host name: %v", err)
		}
	})
	t.Run("certificate changed after a first session", func(t *testing.T) {
		first := startRefServerWith(t, refOptions{tls: &tls.Config{Certificates: []tls.Certificate{self.TLS}}})
		addr := first.addr
		s, err := Open(context.Background(), Config{URL: "rtsps://" + addr + "/cam", TLSFingerprint: selfFP})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		first.srv.Close()
		second := startRefServerWith(t, refOptions{tls: &tls.Config{Certificates: []tls.Certificate{other.TLS}}, addr: addr})
		_, err = Open(context.Background(), Config{URL: "rtsps://" + second.addr + "/cam", TLSFingerprint: selfFP})
		if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), selfFP) || !strings.Contains(err.Error(), otherFP) {
			t.Fatalf("Open after the change = %v", err)
		}
		if second.count("OPTIONS")+second.count("DESCRIBE") != 0 {
			t.Fatal("requests were sent to the changed server")
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		old := startRefServerWith(t, refOptions{tls: &tls.Config{Certificates: []tls.Certificate{self.TLS}, MaxVersion: tls.VersionTLS11}})
		_, err := Open(context.Background(), Config{URL: "rtsps://" + old.addr + "/cam", TLSFingerprint: selfFP})
		if err == nil || !strings.Contains(err.Error(), "TLS handshake") {
			t.Fatalf("Open = %v", err)
		}
	})
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// A server that accepts and never answers the ClientHello: the handshake
// ends at DialTimeout (R-rows: every wait bounded).
func TestRTSPSHandshakeBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	_, err = Open(context.Background(), Config{URL: "rtsps://u:pw-secret@" + ln.Addr().String() + "/x", DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 3*time.Second || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("Open = %v after %v", err, time.Since(start))
	}
	ln.Close()
	<-done
}

func TestRTSPSConfig(t *testing.T) {
	fp := Fingerprint([]byte("x"))
	cases := []struct {
		cfg  Config
		want string // "" valid
	}{
		{Config{URL: "rtsps://h:7441/x", TLSFingerprint: fp}, ""},
		{Config{URL: "rtsps://h/x"}, ""},
		{Config{URL: "rtsps://h/x", Transport: "udp"}, "udp is not possible with rtsps"},
		{Config{URL: "rtsp://h/x", TLSFingerprint: fp}, "not rtsps"},
		{Config{URL: "rtsps://h/x", TLSFingerprint: "sha1:abcd"}, "TLSFingerprint"},
		{Config{URL: "rtsps://h/x", TLSFingerprint: "sha256:abcd"}, "TLSFingerprint"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	u, err := parseCameraURL("rtsps://cam.local/x")
	if err != nil || u.hostPort != "cam.local:322" || !u.tls || u.origin != "rtsps://cam.local:322" {
		t.Fatalf("parseCameraURL(rtsps) = %+v, %v", u, err)
	}
	if got, err := ParseFingerprint(" sha256:" + strings.Repeat("AB:", 31) + "AB "); err != nil || got != "sha256:"+strings.Repeat("ab", 32) {
		t.Fatalf("ParseFingerprint = %q, %v", got, err)
	}
}
