//go:build unix

package rtsp

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
)

// BenchmarkReadPacketsPerPacket is the receive path as real servers drive
// it: eight testcam cameras (4 Mbit/s, one write per RTP packet, real
// time) read by eight sessions in this process. Each iteration is 100 ms
// of wall time. It reports the process's CPU per GB received (the cameras
// included, so an upper bound for the reader) and RTP packets per
// read(2) (issue 12: 7.7–8.7 on this VM, not one). Run with
// -benchtime=50x.
func BenchmarkReadPacketsPerPacket(b *testing.B) {
	const sessions = 8
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var got atomic.Uint64
	var ss []*Session
	defer func() {
		cancel()
		wg.Wait()
		for _, s := range ss {
			s.Close()
		}
	}()
	for range sessions {
		cam, err := testcam.Start(testcam.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer cam.Close()
		s, err := Open(ctx, Config{URL: cam.URL()})
		if err != nil {
			b.Fatal(err)
		}
		ss = append(ss, s)
		wg.Go(func() {
			_ = s.ReadPackets(ctx, func(p *rtp.Packet) error {
				got.Add(uint64(len(p.Payload)))
				return nil
			})
		})
	}
	stats := func() (packets, reads uint64) {
		for _, s := range ss {
			st := s.Stats()
			packets, reads = packets+st.Packets, reads+st.ControlReads
		}
		return
	}
	time.Sleep(300 * time.Millisecond) // past the first keyframes
	p0, r0 := stats()
	bytes0, cpu0 := got.Load(), processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	p1, r1 := stats()
	gb := float64(got.Load()-bytes0) / 1e9
	b.ReportMetric((processCPU(b)-cpu0).Seconds()/gb, "cpu-s/GB")
	b.ReportMetric(float64(p1-p0)/float64(r1-r0), "packets/read")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
