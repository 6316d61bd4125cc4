//go:build linux

package rtsp

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback address whose SYNs are dropped: a listening
// socket with a backlog of 0 that never accepts, with its accept queue
// filled by the connections made here. Linux drops a SYN when the accept
// queue is full, so a new connect hangs as it would towards a firewall
// that drops packets (RELIABILITY R4, "SYN blackhole").
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue; once a dial times out, SYNs are being dropped.
	for i := 0; ; i++ {
		if i == 16 {
			if os.Getenv("CI") != "" {
				t.Fatal("the kernel keeps accepting connections into a full queue; cannot build a SYN blackhole")
			}
			t.Skip("the kernel keeps accepting connections into a full queue; cannot build a SYN blackhole here")
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// TestDialBlackhole (RELIABILITY R4): a camera address that drops SYNs ends
// Open at DialTimeout with a timeout error naming the connect step, not
// after the kernel's two-minute connect timeout.
func TestDialBlackhole(t *testing.T) {
	addr := blackhole(t)
	start := time.Now()
	s, err := Open(context.Background(), Config{URL: "rtsp://admin:hunter2@" + addr + "/cam", DialTimeout: 300 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded against a blackhole")
	}
	var e *Error
	if !errors.As(err, &e) || e.Step != "connect" || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a connect timeout", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about the 300 ms DialTimeout", d)
	}
}
