package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/nvr-project/nvr/internal/testcam"
)

// BenchmarkLiveViewers: what live viewers cost `nvr serve` through real
// WebSockets. One ~4 Mbit/s 720p camera recorded; its live picture watched
// by 0, then 50 WebSocket clients in this process (nvr is a separate
// process, so their reading is not counted). Reports nvr's CPU in percent of
// one core with and without the viewers, and its resident memory per
// viewer. Each phase lasts -livebench.seconds (default 10) of wall time:
//
//	go test ./cmd/nvr -run '^$' -bench LiveViewers -benchtime 1x
func BenchmarkLiveViewers(b *testing.B) {
	const viewers = 50
	seconds := 10
	if s, err := strconv.Atoi(os.Getenv("NVR_LIVEBENCH_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	phase := time.Duration(seconds) * time.Second
	cam, err := testcam.Start(testcam.Options{Clip: testcam.ClipMain720})
	if err != nil {
		b.Fatal(err)
	}
	defer cam.Close()
	dir := b.TempDir()
	listen := freeAddr(b)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	writeConfig(b, cfgPath, fmt.Sprintf("data_dir: %s\nlisten: %s\ncameras:\n  - id: cam\n    url: %s\n",
		filepath.Join(dir, "data"), listen, cam.URL()))
	for range b.N {
		p := startServe(b, cfgPath, listen)
		p.waitFor(20*time.Second, "recording", func() bool { return p.camera("cam").State == "recording" })
		time.Sleep(2 * time.Second) // past the first segment's start
		pid := p.cmd.Process.Pid

		cpu0, _ := procCPU(b, pid)
		time.Sleep(phase)
		cpu1, rss0 := procCPU(b, pid)
		alone := (cpu1 - cpu0).Seconds() / phase.Seconds()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var got atomic.Int64
		for range viewers {
			hdr := http.Header{"Origin": {p.base}}
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.base, "http")+"/api/cameras/cam/live", &websocket.DialOptions{HTTPHeader: hdr})
			if err != nil {
				b.Fatalf("viewer: %v", err)
			}
			c.SetReadLimit(16 << 20)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.CloseNow()
				for {
					_, m, err := c.Read(ctx)
					if err != nil {
						return
					}
					got.Add(int64(len(m)))
				}
			}()
		}
		time.Sleep(2 * time.Second) // every viewer past its first keyframe
		cpu2, _ := procCPU(b, pid)
		got0 := got.Load()
		time.Sleep(phase)
		cpu3, rss1 := procCPU(b, pid)
		sent := got.Load() - got0
		cancel()
		wg.Wait()
		p.stop(syscall.SIGTERM, 30*time.Second)

		watched := (cpu3 - cpu2).Seconds() / phase.Seconds()
		if sent < int64(viewers)*int64(seconds)*100<<10 {
			b.Fatalf("%d viewers received only %d bytes in %s", viewers, sent, phase)
		}
		b.ReportMetric(alone*100, "%core-recording")
		b.ReportMetric(watched*100, "%core-with-50-viewers")
		b.ReportMetric((watched-alone)*100, "%core-for-viewers")
		b.ReportMetric(float64(int64(rss1)-int64(rss0))/viewers/1024, "KB-RSS/viewer")
		b.ReportMetric(float64(sent)/phase.Seconds()/viewers*8/1e6, "Mbit/s/viewer")
	}
}

// procCPU returns process pid's user+system CPU time and resident memory
// from /proc.
func procCPU(tb testing.TB, pid int) (time.Duration, uint64) {
	tb.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from its closing parenthesis.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	rssPages, _ := strconv.ParseUint(f[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, rssPages * uint64(os.Getpagesize())
}
