//go:build unix

package testcam

import (
	"bufio"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServe100 is the load test's shape: 100 TCP sessions of the
// 4 Mbit/s clip at real-time speed in one process. Each iteration is 100 ms
// of wall time; "cpu-cores" is process CPU time over wall time, and
// includes the 100 in-process readers, so it is an upper bound for the
// server's cost. Run with -benchtime=30x or more for a stable figure.
func BenchmarkServe100(b *testing.B) {
	const sessions = 100
	s, err := Start(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var conns []net.Conn
	for range sessions {
		c := dialRawB(b, s)
		conns = append(conns, c.nc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(io.Discard, c.br)
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	b.ReportAllocs()
	time.Sleep(200 * time.Millisecond) // let every session send its first GOP
	st0, cpu0, wall0 := s.Stats(), cpuTime(b), time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	st, cpu, wall := s.Stats(), cpuTime(b), time.Since(wall0)
	b.ReportMetric(float64(cpu-cpu0)/float64(wall), "cpu-cores")
	b.ReportMetric(float64(st.BytesSent-st0.BytesSent)*8/wall.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64(st.FramesSent-st0.FramesSent)/wall.Seconds(), "frames/s")
}

// dialRawB plays the stream over TCP with a raw client, for benchmarks.
func dialRawB(b *testing.B, s *Server) *rawClient {
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	c := &rawClient{nc: nc, base: "rtsp://" + s.Addr() + s.opts.Path}
	c.br = bufio.NewReaderSize(nc, 1<<16)
	setup := "SETUP " + c.base + "/" + trackControl + " RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
	if _, err := nc.Write([]byte(setup)); err != nil {
		b.Fatal(err)
	}
	r, err := c.readResponse()
	if err != nil || r.Status != 200 {
		b.Fatalf("SETUP: %v %d", err, r.Status)
	}
	if _, err := nc.Write([]byte("PLAY " + c.base + " RTSP/1.0\r\nCSeq: 2\r\nSession: " + sessionID(r.Header["session"]) + "\r\n\r\n")); err != nil {
		b.Fatal(err)
	}
	if r, err := c.readResponse(); err != nil || r.Status != 200 {
		b.Fatalf("PLAY: %v %d", err, r.Status)
	}
	if err := nc.SetReadDeadline(time.Time{}); err != nil {
		b.Fatal(err)
	}
	return c
}
