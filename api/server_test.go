package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startServer runs NewServer(h) on a loopback listener with the given
// changes and returns its base URL; the server is shut down at cleanup.
func startServer(t *testing.T, h http.Handler, mod func(*http.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), h)
	if mod != nil {
		mod(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestNewServerSettings(t *testing.T) {
	srv := NewServer("127.0.0.1:8080", http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	if srv.WriteTimeout != 0 {
		t.Fatal("a server WriteTimeout would cut long exports; deadlines are per response")
	}
	if srv.Addr != "127.0.0.1:8080" {
		t.Fatalf("Addr %q", srv.Addr)
	}
}

// S6: a client that sends its request headers one byte at a time is cut
// off by ReadHeaderTimeout (shortened here to keep the test fast).
func TestSlowlorisIsCutOff(t *testing.T) {
	f := newFixture(t, nil)
	const timeout = 300 * time.Millisecond
	base := startServer(t, f.h, func(s *http.Server) { s.ReadHeaderTimeout = timeout })
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /api/cameras HTTP/1.1\r\nHost: nvr\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// The server closes without answering; the read ends then.
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	for i := 0; i < len(req); i++ {
		if _, err := conn.Write([]byte{req[i]}); err != nil {
			// The server hung up mid-headers: what we want.
			if d := <-closed; d > 10*timeout {
				t.Fatalf("cut off only after %v", d)
			}
			return
		}
		select {
		case d := <-closed:
			if d > 10*timeout {
				t.Fatalf("cut off only after %v", d)
			}
			return // cut off before the headers were complete
		case <-time.After(50 * time.Millisecond): // the drip: one byte per 50 ms
		}
	}
	t.Fatalf("the server read the whole %d-byte request at one byte per 50 ms (%v) without cutting it off",
		len(req), time.Since(start))
}

// A download that takes longer than ReadTimeout completes: the read
// deadline is lifted for streams, so it does not cancel the request.
func TestLongDownloadOutlivesReadTimeout(t *testing.T) {
	f := newFixture(t, nil)
	f.exp.data = bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB: more than loopback socket buffers hold
	base := startServer(t, f.h, func(s *http.Server) {
		s.ReadTimeout = 100 * time.Millisecond
		s.ReadHeaderTimeout = 100 * time.Millisecond
	})
	resp, err := http.Get(base + exportPath + rangeQ)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got bytes.Buffer
	br := bufio.NewReaderSize(resp.Body, 1<<16)
	deadline := time.Now().Add(400 * time.Millisecond)
	// Read slowly for well past ReadTimeout, then take the rest.
	for time.Now().Before(deadline) {
		if _, err := io.CopyN(&got, br, 64<<10); err != nil {
			t.Fatalf("download cut after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.Copy(&got, br); err != nil {
		t.Fatalf("download cut after %d bytes: %v", got.Len(), err)
	}
	if !bytes.Equal(got.Bytes(), f.exp.data) {
		t.Fatalf("got %d bytes, want %d", got.Len(), len(f.exp.data))
	}
}

// The API starts no goroutines of its own; a server that served requests
// and shut down leaves none behind.
func TestNoGoroutinesLeftBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("serve", func(t *testing.T) {
		f := newFixture(t, nil)
		base := startServer(t, f.h, nil)
		c := &http.Client{Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		for _, p := range []string{"/api/cameras", exportPath + rangeQ, "/api/segments/1", "/healthz"} {
			resp, err := c.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true,
		"LOCALHOST:1": true, "127.0.0.1": true, "::1": true, "[::ffff:127.0.0.1]:80": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.168.1.10:8080": false,
		"example.com:80": false, "localhost.example.com:80": false, "": false, "[fe80::1%eth0]:80": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A client that stops reading a download is cut off after the stall
// timeout (shortened here), and the clip is closed: it holds no file
// handles forever.
func TestStalledDownloadIsCutOff(t *testing.T) {
	f := newFixture(t, nil)
	f.h.(*handler).streamStall = 200 * time.Millisecond
	f.exp.data = bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB: more than socket buffers hold
	base := startServer(t, f.h, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	if _, err := io.WriteString(conn, "GET "+exportPath+rangeQ+" HTTP/1.1\r\nHost: nvr\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read nothing; the server must give up and close the clip.
	deadline := time.Now().Add(10 * time.Second)
	for f.exp.closed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a stalled download held its clip open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAllowedHosts(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AllowedHosts = []string{"localhost", "127.0.0.1"} })
	for host, want := range map[string]int{
		"localhost:8080": 200, "LOCALHOST": 200, "127.0.0.1:8080": 200,
		"attacker.example:8080": 403, "nvr.test": 403,
	} {
		r := httptest.NewRequest("GET", "/api/cameras", nil)
		r.Host = host
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
