// Command loadtest measures recording at scale (issue 3, "Speed and
// memory"): it starts many in-process test cameras (internal/testcam,
// ClipMain720 is ~4 Mbit/s), records them with a fleet.Fleet — the same
// jobs, index, events and retention as nvr serve — into a temporary data
// directory, and reports bytes
// received, frames sent versus written and indexed, drops and losses,
// process CPU seconds per GB received, and memory per camera.
//
// The cameras run in the same process, so their CPU counts too. A
// baseline run streams the same cameras to RTSP clients that only read
// the packets; recording's share is the recording run minus the baseline.
//
// Each camera stops sending (testcam StallAfter) when -duration has
// passed since its PLAY, and the run waits until every frame sent has been
// written or counted as dropped, so the accounting is exact: nothing is
// "in flight" when the jobs are cancelled.
//
//	go run ./cmd/loadtest -cameras 100 -duration 30s
//
// It owns nothing but the measurement: it does not change how recording
// works, and it is not part of the test suite beyond TestLoadSmall.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		slog.Error("loadtest failed", "err", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var o Options
	fs.IntVar(&o.Cameras, "cameras", 100, "number of test cameras")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long each camera streams")
	fs.StringVar(&o.Clip, "clip", "", "testcam clip (default main720, ~4 Mbit/s)")
	fs.StringVar(&o.Transport, "transport", "tcp", "tcp or udp")
	fs.StringVar(&o.DataDir, "dir", "", "parent of the temporary data dir (default $TMPDIR; /dev/shm for tmpfs)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data dir")
	fs.DurationVar(&o.SegmentDuration, "segment", 10*time.Second, "recorder segment duration")
	fs.DurationVar(&o.ReadLatency, "read-latency", 0, "recorder read latency while nobody watches (0: its default; negative: read at once)")
	fs.DurationVar(&o.FragmentDuration, "fragment", 0, "recorder fragment duration (0: its default)")
	fs.DurationVar(&o.Drain, "drain", 30*time.Second, "longest wait for sent frames to be written after the cameras stop")
	fs.DurationVar(&o.Stagger, "stagger", 0, "spread the cameras' starts over this long (0: all at once, like nvr serve)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the recording run to this file")
	fs.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile of the recording run (steady state) to this file")
	fs.IntVar(&o.DropEvery, "drop-every", 0, "cameras skip every Nth RTP packet (checks that loss is reported)")
	fs.StringVar(&o.External, "external", "", "path of the refserver command: cameras in that separate process (gortsplib's server, one write per packet) instead of in-process testcams")
	baseline := fs.Bool("baseline", true, "also run the read-only baseline first")
	jsonOut := fs.String("json", "", "also write the reports as JSON to this file (- for stdout)")
	perCam := fs.Bool("per-camera", false, "list every camera in the text report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if err := checkSpace(o); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var reports []*Report
	if *baseline {
		b := o
		b.Mode, b.CPUProfile, b.MemProfile = ModeBaseline, "", ""
		rep, err := Run(ctx, b)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
		writeText(out, rep, *perCam)
	}
	o.Mode = ModeRecord
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	reports = append(reports, rep)
	writeText(out, rep, *perCam)
	if len(reports) == 2 {
		writeShare(out, reports[0], reports[1])
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(reports, "", "  ")
		if err != nil {
			return fmt.Errorf("json: %w", err)
		}
		b = append(b, '\n')
		if *jsonOut == "-" {
			_, err = out.Write(b)
		} else {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("json: %w", err)
		}
	}
	if rep.VerifyError != "" || !rep.Drained || rep.CamerasComplete != rep.Cameras {
		return fmt.Errorf("not every frame was kept: %d of %d cameras complete", rep.CamerasComplete, rep.Cameras)
	}
	return nil
}

const (
	// spaceMargin is the share of the free space a run may use: the disk
	// is shared, and fragments are written before the index is checked.
	spaceMargin = 0.5
	// bytesPerCameraSecond is what a camera's recording takes on disk:
	// 4 Mbit/s is 0.5 MB/s, plus MP4 boxes and the index.
	bytesPerCameraSecond = 0.55e6
)

// checkSpace refuses a run whose recordings would not fit comfortably in
// the free space of the data dir's filesystem (-dir).
func checkSpace(o Options) error {
	o = o.withDefaults()
	var st syscall.Statfs_t
	if err := syscall.Statfs(o.DataDir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", o.DataDir, err)
	}
	free := float64(st.Bavail) * float64(st.Bsize)
	need := float64(o.Cameras) * o.Duration.Seconds() * bytesPerCameraSecond
	if need > free*spaceMargin {
		return fmt.Errorf("%s: about %.1f GB needed, only %.1f GB free (at most half of it is used)", o.DataDir, need/1e9, free/1e9)
	}
	return nil
}

func mb(b float64) string { return fmt.Sprintf("%.2f MB", b/1e6) }

// writeText prints a report for people.
func writeText(w io.Writer, r *Report, perCam bool) {
	fmt.Fprintf(w, "== %s: %d cameras (%s, %s), %.0f s each (starts spread over %.0f s), %.1f s in all, load %s\n",
		r.Mode, r.Cameras, r.Clip, r.Transport, r.Duration, r.Stagger, r.Seconds, r.LoadAverage)
	rate := 0.0
	if r.Duration > 0 && r.Cameras > 0 {
		rate = r.GB * 8e3 / r.Duration / float64(r.Cameras)
	}
	fmt.Fprintf(w, "received   %.3f GB (%.1f Mbit/s per camera)\n", r.GB, rate)
	fmt.Fprintf(w, "frames     sent %d, arrived %d, written %d, indexed %d, dropped %d; packets lost %d, decode errors %d, reconnects %d\n",
		r.FramesSent, r.FramesArrived, r.FramesWritten, r.IndexFrames, r.Dropped, r.PacketsLost, r.DecodeErrors, r.Reconnects)
	fmt.Fprintf(w, "complete   %d of %d cameras kept every frame (drained: %v), %d segments\n", r.CamerasComplete, r.Cameras, r.Drained, r.Segments)
	fmt.Fprintf(w, "cpu        user %.2f s + sys %.2f s = %.3f user-s/GB, %.3f sys-s/GB, %.3f total s/GB; %d GCs\n",
		r.UserCPU, r.SysCPU, r.UserPerGB, r.SysPerGB, r.TotalPerGB, r.GCs)
	if r.External {
		fmt.Fprintf(w, "server     external process, %.2f CPU-s (not counted above)\n", r.ServerCPU)
	}
	for _, m := range []struct {
		name string
		m    Mem
	}{{"before", r.MemBefore}, {"peak", r.MemPeak}, {"steady", r.MemSteady}} {
		fmt.Fprintf(w, "memory     %-6s heap in use %s, live %s, sys %s, rss %s\n", m.name,
			mb(float64(m.m.HeapInuse)), mb(float64(m.m.HeapLive)), mb(float64(m.m.Sys)), mb(float64(m.m.RSS)))
	}
	fmt.Fprintf(w, "per camera live heap %s (steady after GC), heap in use %s, rss %s (peak); minus before\n",
		mb(r.LivePerCam), mb(r.HeapPerCam), mb(r.RSSPerCam))
	fmt.Fprintf(w, "machine    busy %.0f%%, steal %.0f%%, idle %.0f%% of all CPUs; this process ran %.1f s and waited %.1f s for a CPU\n",
		r.Machine.BusyPct, r.Machine.StealPct, r.Machine.IdlePct, r.Machine.RunS, r.Machine.WaitS)
	if r.Waits != nil {
		for _, l := range []struct {
			name string
			l    Latency
		}{{"CreateSegment", r.Waits.CreateSegment}, {"UpdateSegment", r.Waits.UpdateSegment},
			{"FinishSegment", r.Waits.FinishSegment}, {"fsync", r.Waits.Sync}} {
			if l.l.Calls > 0 {
				fmt.Fprintf(w, "wait       %-13s %5d calls, mean %6.1f ms, max %6.0f ms, %d over 1 s\n",
					l.name, l.l.Calls, 1e3*l.l.TotalS/float64(l.l.Calls), 1e3*l.l.MaxS, l.l.Over1s)
			}
		}
	}
	if r.Waits != nil {
		for _, e := range r.Waits.Errors {
			fmt.Fprintf(w, "error      %s\n", e)
		}
	}
	if len(r.DropTimeline) > 0 && r.Dropped > 0 {
		fmt.Fprintf(w, "drops      running total per sample: %v\n", r.DropTimeline)
	}
	if r.VerifyError != "" {
		fmt.Fprintf(w, "VERIFY     %s\n", strings.ReplaceAll(r.VerifyError, "\n", "\n           "))
	}
	for _, c := range r.PerCamera {
		if perCam || c.LastError != "" || (c.FramesWritten < c.FramesSent && r.Mode == ModeRecord) {
			fmt.Fprintf(w, "  %s sent %d written %d indexed %d dropped %d lost %d segments %d %s\n",
				c.ID, c.FramesSent, c.FramesWritten, c.IndexFrames, c.Dropped, c.PacketsLost, c.Segments, c.LastError)
		}
	}
}

// writeShare prints recording's share: the recording run minus the
// baseline, per GB each run received, and memory per camera.
func writeShare(w io.Writer, base, rec *Report) {
	fmt.Fprintf(w, "== recording's share (record minus baseline)\n")
	fmt.Fprintf(w, "cpu        user %.3f s/GB, sys %.3f s/GB, total %.3f s/GB\n",
		rec.UserPerGB-base.UserPerGB, rec.SysPerGB-base.SysPerGB, rec.TotalPerGB-base.TotalPerGB)
	fmt.Fprintf(w, "per camera live heap %s, heap in use %s, rss %s\n",
		mb(rec.LivePerCam-base.LivePerCam), mb(rec.HeapPerCam-base.HeapPerCam), mb(rec.RSSPerCam-base.RSSPerCam))
}
