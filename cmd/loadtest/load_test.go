package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
)

// TestLoadSmall records a few cameras at once and checks correctness
// only (never timing: it runs with -race on a shared, busy machine).
// Each camera stops sending after Duration (testcam StallAfter) and the
// run waits until every sent frame is accounted for, so the accounting is
// exact: every frame the cameras sent is written and indexed, none is
// dropped or lost, and every segment file passes fmp4.Scan with the
// indexed frame count (verifyIndex).
func TestLoadSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("records for several seconds")
	}
	goroutines := runtime.NumGoroutine()
	rep, err := Run(context.Background(), Options{
		Mode:            ModeRecord,
		Cameras:         8,
		Duration:        6 * time.Second,
		DataDir:         t.TempDir(),
		SegmentDuration: 2 * time.Second,
		// Generous on purpose: a loaded machine under -race can be slow
		// to drain; the check is that everything arrives, not how fast.
		Drain: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Drained {
		t.Errorf("not every sent frame was accounted for within the drain limit")
	}
	if rep.VerifyError != "" {
		t.Errorf("index/segment check: %s", rep.VerifyError)
	}
	if len(rep.PerCamera) != 8 {
		t.Fatalf("%d cameras in the report, want 8", len(rep.PerCamera))
	}
	// 6 s at 25 fps: 150 frames per camera, minus a slow start.
	const minFrames = 100
	for _, c := range rep.PerCamera {
		if c.FramesSent < minFrames {
			t.Errorf("%s: the camera sent only %d frames", c.ID, c.FramesSent)
		}
		// The camera starts every session with a keyframe, so no frame
		// precedes the first keyframe; the camera stopped before the job
		// did, so none was in flight. Everything sent must be written.
		if c.FramesWritten != c.FramesSent {
			t.Errorf("%s: %d frames sent, %d written", c.ID, c.FramesSent, c.FramesWritten)
		}
		if c.IndexFrames != c.FramesWritten {
			t.Errorf("%s: %d frames written, %d in the index", c.ID, c.FramesWritten, c.IndexFrames)
		}
		if c.Dropped != 0 || c.PacketsLost != 0 || c.DecodeErrors != 0 || c.Reconnects != 0 {
			t.Errorf("%s: dropped %d, lost %d, decode errors %d, reconnects %d (last error %q)",
				c.ID, c.Dropped, c.PacketsLost, c.DecodeErrors, c.Reconnects, c.LastError)
		}
		// 6 s cut at the first keyframe after 2 s (GOP 2 s): 3 segments.
		if c.Segments < 2 {
			t.Errorf("%s: %d segments, want several", c.ID, c.Segments)
		}
		if c.BytesReceived == 0 {
			t.Errorf("%s: no bytes received", c.ID)
		}
	}
	if rep.CamerasComplete != 8 {
		t.Errorf("%d of 8 cameras complete", rep.CamerasComplete)
	}
	if rep.UserCPU+rep.SysCPU <= 0 || rep.GB <= 0 || rep.TotalPerGB <= 0 {
		t.Errorf("no CPU or bytes measured: %+v", rep)
	}
	if rep.MemSteady.HeapLive == 0 || rep.MemPeak.HeapInuse == 0 {
		t.Errorf("no memory samples: steady %+v peak %+v", rep.MemSteady, rep.MemPeak)
	}
	if rep.Waits == nil || rep.Waits.CreateSegment.Calls != rep.Segments || rep.Waits.FinishSegment.Calls != rep.Segments {
		t.Errorf("probes saw %+v for %d segments", rep.Waits, rep.Segments)
	}
	checkGoroutines(t, goroutines)
}

// TestLoadStaggered adds the cameras one reload at a time: every camera
// still records every frame it sends.
func TestLoadStaggered(t *testing.T) {
	if testing.Short() {
		t.Skip("records for several seconds")
	}
	goroutines := runtime.NumGoroutine()
	rep, err := Run(context.Background(), Options{Cameras: 3, Duration: 3 * time.Second, Stagger: 1500 * time.Millisecond,
		DataDir: t.TempDir(), SegmentDuration: time.Second, Drain: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Drained || rep.CamerasComplete != 3 || rep.VerifyError != "" {
		t.Errorf("drained %v, %d of 3 cameras complete, verify %q: %+v", rep.Drained, rep.CamerasComplete, rep.VerifyError, rep.PerCamera)
	}
	for _, c := range rep.PerCamera {
		if c.FramesSent == 0 || c.FramesWritten != c.FramesSent || c.Segments == 0 {
			t.Errorf("%s: sent %d, written %d, segments %d", c.ID, c.FramesSent, c.FramesWritten, c.Segments)
		}
	}
	checkGoroutines(t, goroutines)
}

// TestBaselineSmall runs the read-only baseline: every frame sent arrives.
func TestBaselineSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	goroutines := runtime.NumGoroutine()
	rep, err := Run(context.Background(), Options{Mode: ModeBaseline, Cameras: 3, Duration: 2 * time.Second, Drain: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Drained || rep.CamerasComplete != 3 {
		t.Errorf("drained %v, %d of 3 cameras complete: %+v", rep.Drained, rep.CamerasComplete, rep.PerCamera)
	}
	for _, c := range rep.PerCamera {
		if c.FramesArrived != c.FramesSent || c.FramesSent == 0 || c.Segments != 0 {
			t.Errorf("%s: sent %d, arrived %d, segments %d", c.ID, c.FramesSent, c.FramesArrived, c.Segments)
		}
	}
	checkGoroutines(t, goroutines)
}

// checkGoroutines fails when goroutines started by a run outlive it.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; none: valid
	}{
		{"defaults", Options{Cameras: 1, Duration: time.Second}, nil},
		{"baseline udp", Options{Mode: ModeBaseline, Cameras: 5, Duration: time.Minute, Transport: "udp"}, nil},
		{"no cameras", Options{Duration: time.Second}, []string{"Cameras"}},
		{"too many cameras", Options{Cameras: maxCameras + 1, Duration: time.Second}, []string{"Cameras"}},
		{"no duration", Options{Cameras: 1}, []string{"Duration"}},
		{"too long", Options{Cameras: 1, Duration: maxDuration + time.Second}, []string{"Duration"}},
		{"everything wrong", Options{Mode: "x", Transport: "sctp", Drain: -1, DropEvery: 1},
			[]string{"Mode", "Cameras", "Duration", "Transport", "must not be negative", "DropEvery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad flag", []string{"-nope"}, "not defined"},
		{"extra argument", []string{"x"}, "unexpected arguments"},
		{"bad cameras", []string{"-cameras", "0"}, "Cameras"},
		{"no room", []string{"-cameras", "2000", "-duration", "1h", "-dir", "/"}, "GB needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run(%q) = %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t   12345 kB\nThreads: 4\n", 12345 << 10, false},
		{"VmRSS: 0 kB", 0, false},
		{"Name: x\n", 0, true},
		{"VmRSS: 12 MB\n", 0, true},
		{"VmRSS: -1 kB\n", 0, true},
		{"VmRSS: 99999999999999999999 kB\n", 0, true},
		{"VmRSS:\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseVmRSS([]byte(tt.in))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseCPUStat(t *testing.T) {
	st, err := parseCPUStat("cpu  10 1 5 100 4 2 3 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	want := cpuStat{busy: 10 + 1 + 5 + 2 + 3, idle: 104, steal: 7, total: 21 + 104 + 7}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "cpu 1 2 3", "intr 1 2 3 4 5 6 7 8 9", "cpu a b c d e f g h"} {
		if _, err := parseCPUStat(bad); err == nil {
			t.Errorf("parseCPUStat(%q): no error", bad)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		in        string
		run, wait time.Duration
		ok        bool
	}{
		{"123 456 7\n", 123, 456, true},
		{"1 2", 1, 2, true},
		{"1", 0, 0, false},
		{"x 2 3", 0, 0, false},
		{"-1 2 3", 0, 0, false},
	}
	for _, tt := range tests {
		r, w, ok := parseSchedstat(tt.in)
		if r != tt.run || w != tt.wait || ok != tt.ok {
			t.Errorf("parseSchedstat(%q) = %v %v %v", tt.in, r, w, ok)
		}
	}
}

func TestLatency(t *testing.T) {
	var l latency
	l.observe(time.Now().Add(-2 * time.Second))
	l.observe(time.Now())
	got := l.get()
	if got.Calls != 2 || got.Over1s != 1 || got.MaxS < 2 || got.TotalS < 2 {
		t.Errorf("got %+v", got)
	}
}

func TestSummarise(t *testing.T) {
	r := &Report{Mode: ModeRecord, Cameras: 2, UserCPU: 1, SysCPU: 3,
		MemBefore: Mem{HeapInuse: 100, RSS: 1000, HeapLive: 10},
		MemPeak:   Mem{HeapInuse: 300, RSS: 5000},
		MemSteady: Mem{HeapLive: 210},
		PerCamera: []Camera{
			{FramesSent: 10, FramesWritten: 10, IndexFrames: 10, BytesReceived: 1e9},
			{FramesSent: 10, FramesWritten: 8, Dropped: 2, IndexFrames: 8, BytesReceived: 1e9},
		}}
	r.summarise()
	if r.GB != 2 || r.UserPerGB != 0.5 || r.SysPerGB != 1.5 || r.TotalPerGB != 2 {
		t.Errorf("cpu per GB: %+v", r)
	}
	if r.FramesSent != 20 || r.FramesWritten != 18 || r.Dropped != 2 || r.CamerasComplete != 1 {
		t.Errorf("frames: %+v", r)
	}
	if r.HeapPerCam != 100 || r.RSSPerCam != 2000 || r.LivePerCam != 100 {
		t.Errorf("memory per camera: heap %v rss %v live %v", r.HeapPerCam, r.RSSPerCam, r.LivePerCam)
	}
	var out bytes.Buffer
	writeText(&out, r, false)
	if !strings.Contains(out.String(), "1 of 2 cameras kept every frame") {
		t.Errorf("text report:\n%s", out.String())
	}
}

// TestLoadDetectsLoss: when the cameras lose packets the run must not
// call the cameras complete, and must still end (the drain is bounded).
func TestLoadDetectsLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for several seconds")
	}
	rep, err := Run(context.Background(), Options{
		Cameras: 2, Duration: 2 * time.Second, DataDir: t.TempDir(),
		DropEvery: 40, Drain: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacketsLost == 0 {
		t.Errorf("no packets lost reported with DropEvery 40: %+v", rep.PerCamera)
	}
	if rep.CamerasComplete != 0 {
		t.Errorf("%d cameras complete despite loss", rep.CamerasComplete)
	}
	if rep.FramesWritten >= rep.FramesSent {
		t.Errorf("%d of %d frames written despite loss", rep.FramesWritten, rep.FramesSent)
	}
}

// TestVerifyIndexDetectsDamage: the after-run check fails when a segment
// file or the accounting does not match the index.
func TestVerifyIndexDetectsDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("records for a few seconds")
	}
	ctx := context.Background()
	rep, err := Run(ctx, Options{Cameras: 1, Duration: 3 * time.Second, DataDir: t.TempDir(),
		SegmentDuration: time.Second, Keep: true, Drain: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.VerifyError != "" || rep.CamerasComplete != 1 || rep.Segments < 2 {
		t.Fatalf("the undamaged run is not clean: %q, %d complete, %d segments", rep.VerifyError, rep.CamerasComplete, rep.Segments)
	}
	store, err := storage.Open(ctx, rep.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	segs, _, err := store.ListSegments(ctx, rep.PerCamera[0].ID, 0, time.Now().Add(time.Hour).UnixNano(), 10, "")
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments: %v, %d", err, len(segs))
	}
	path := filepath.Join(store.RecordingsDir(), filepath.FromSlash(segs[0].Path))

	check := func(name, want string, cams []Camera) {
		t.Helper()
		for i := range cams {
			cams[i].Segments, cams[i].IndexFrames = 0, 0
		}
		err := verifyIndex(ctx, store, cams, time.Now())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: verifyIndex = %v, want an error with %q", name, err, want)
		}
	}
	cams := func() []Camera { return append([]Camera(nil), rep.PerCamera...) }

	// Accounting: the job claims one frame more than the index holds.
	c := cams()
	c[0].FramesWritten++
	check("frames", "frames, the job wrote", c)

	// A torn tail: bytes after the last complete fragment.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	check("torn tail", segs[0].Path, cams())

	// A missing file.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check("missing file", segs[0].Path, cams())
}

// FuzzProcParsers feeds arbitrary text to the /proc parsers: no panic,
// and what they accept is consistent.
func FuzzProcParsers(f *testing.F) {
	for _, seed := range []string{
		"Name:\tx\nVmRSS:\t   12345 kB\n", "VmRSS: 12 MB\n", "VmRSS: 99999999999999999999 kB\n",
		"cpu  10 1 5 100 4 2 3 7 0 0\n", "cpu 1 2 3", "123 456 7\n", "-1 2 3", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if rss, err := parseVmRSS([]byte(s)); err == nil && rss > maxRSSKiB<<10 {
			t.Errorf("parseVmRSS(%q) = %d, above the bound", s, rss)
		}
		if st, err := parseCPUStat(s); err == nil && st.total != st.busy+st.idle+st.steal {
			t.Errorf("parseCPUStat(%q): total %d is not the sum of %+v", s, st.total, st)
		}
		if r, w, ok := parseSchedstat(s); ok && (r < 0 || w < 0) {
			t.Errorf("parseSchedstat(%q) = %v, %v", s, r, w)
		}
	})
}

// TestLoadExternal records from the refserver command — gortsplib's
// server in its own process, one write per RTP packet — over TCP and UDP:
// every frame it sent is written and indexed, and its CPU is reported
// apart from this process's.
func TestLoadExternal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds refserver and records for several seconds")
	}
	bin := filepath.Join(t.TempDir(), "refserver")
	build := exec.Command("go", "build", "-o", bin, "./refserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./refserver: %v\n%s", err, out)
	}
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			rep, err := Run(context.Background(), Options{Cameras: 2, Duration: 3 * time.Second, Transport: tr,
				DataDir: t.TempDir(), SegmentDuration: time.Second, Drain: time.Minute, External: bin})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.External || rep.ServerCPU <= 0 {
				t.Errorf("external %v, server CPU %v s", rep.External, rep.ServerCPU)
			}
			if !rep.Drained || rep.CamerasComplete != 2 || rep.VerifyError != "" {
				t.Errorf("drained %v, %d of 2 cameras complete, verify %q: %+v", rep.Drained, rep.CamerasComplete, rep.VerifyError, rep.PerCamera)
			}
			for _, c := range rep.PerCamera {
				// 3 s at 25 fps, less a slow start.
				if c.FramesSent < 50 || c.FramesWritten != c.FramesSent || c.IndexFrames != c.FramesSent {
					t.Errorf("%s: sent %d, written %d, indexed %d", c.ID, c.FramesSent, c.FramesWritten, c.IndexFrames)
				}
			}
			checkGoroutines(t, goroutines)
		})
	}
}
