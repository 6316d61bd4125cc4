package recorder

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

// requireFFmpeg returns ffmpeg's and ffprobe's paths; tests skip without
// them, except in CI where they must be installed.
func requireFFmpeg(t *testing.T) (ffmpeg, ffprobe string) {
	t.Helper()
	var err1, err2 error
	ffmpeg, err1 = exec.LookPath("ffmpeg")
	ffprobe, err2 = exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ffmpeg/ffprobe missing in CI: %v %v", err1, err2)
		}
		t.Skip("ffmpeg/ffprobe not installed")
	}
	return ffmpeg, ffprobe
}

// checkPlayable decodes the file once with ffprobe -count_frames (errors
// at level "error" fail the test) and returns the frames it decoded.
func checkPlayable(t *testing.T, path string) int {
	t.Helper()
	_, ffprobe := requireFFmpeg(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("%s: decode: %v: %s", filepath.Base(path), err, stderr.String())
	}
	n, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("%s: ffprobe frame count %q", filepath.Base(path), stdout.String())
	}
	return n
}

// scanFile reads a segment back with the independent reader.
func scanFile(t *testing.T, path string) *fmp4.SegmentInfo {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := fmp4.Scan(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: scan: %v", filepath.Base(path), err)
	}
	if info.ValidSize != fi.Size() {
		t.Errorf("%s: %d valid bytes of %d", filepath.Base(path), info.ValidSize, fi.Size())
	}
	return info
}

// checkRowMatchesFile: the index row and the file agree (frames, keyframes,
// duration within the slew bound), the file starts on a keyframe and
// decodes cleanly with every frame.
func checkRowMatchesFile(t *testing.T, r storage.Segment, path string) {
	t.Helper()
	info := scanFile(t, path)
	if int64(len(info.Samples)) != r.Frames || int64(info.Keyframes) != r.Keyframes {
		t.Errorf("segment %d: row %d frames/%d key, file %d/%d", r.ID, r.Frames, r.Keyframes, len(info.Samples), info.Keyframes)
	}
	if len(info.Samples) == 0 || !info.Samples[0].Keyframe {
		t.Errorf("segment %d does not start with a keyframe", r.ID)
	}
	media := ticks.ToNS(info.Duration)
	if d := r.EndNS - r.StartNS - media; d > media/slewDivisor+1 || -d > media/slewDivisor+1 {
		t.Errorf("segment %d: wall %v, media %v", r.ID, time.Duration(r.EndNS-r.StartNS), time.Duration(media))
	}
	if n := checkPlayable(t, path); int64(n) != r.Frames {
		t.Errorf("segment %d: ffprobe counts %d frames, row %d", r.ID, n, r.Frames)
	}
}

// realEnv is a job with the real segment writer and reader and a fake
// store (real files, rows in memory).
func realEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	env := &testEnv{clock: newFakeClock(), store: newFakeStore(t), log: &writerLog{}}
	cfg.Camera, cfg.RTSP.URL = "cam-1", "rtsp://127.0.0.1:1/x"
	j, err := NewJob(cfg, Deps{Store: env.store, Clock: env.clock, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	env.job = j
	return env
}

// Real fMP4 files from every clip (B-frames and H.265 included) and across
// an SPS change and a codec change: each checked by fmp4.Scan and ffmpeg
// against its row.
func TestRealSegmentFiles(t *testing.T) {
	cases := []struct {
		name   string
		clips  []string
		loops  int
		segDur time.Duration
	}{
		{"main720", []string{testcam.ClipMain720}, 1, time.Second},
		{"bframes", []string{testcam.ClipHigh360BFrame}, 2, 2 * time.Second},
		{"sps change", []string{testcam.ClipBase240, testcam.ClipHigh360BFrame}, 1, time.Minute},
		{"h265", []string{testcam.ClipHEVC270}, 2, 2 * time.Second},
		{"h264 to h265 starts a new segment", []string{testcam.ClipBase240, testcam.ClipHEVC270}, 1, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireFFmpeg(t)
			env := realEnv(t, Config{SegmentDuration: tc.segDur, FsyncInterval: time.Second})
			s := newSegmenter(env.job.segmenterDeps())
			var n int
			var next int64
			for _, name := range tc.clips {
				c := loadClip(t, name)
				k, nx := feedClip(t, s, c, tc.loops, next, t0.Add(time.Duration(ticks.ToNS(next))))
				n += k
				next = nx
			}
			if err := s.endRun(); err != nil {
				t.Fatal(err)
			}
			rows := env.store.segments()
			if len(rows) < 2 {
				t.Fatalf("%d segments", len(rows))
			}
			var total int64
			for i, r := range rows {
				checkRowMatchesFile(t, r, env.store.path(r.ID))
				total += r.Frames
				if i > 0 && r.StartNS != rows[i-1].EndNS {
					t.Errorf("segment %d does not abut", i)
				}
			}
			if total != int64(n) {
				t.Errorf("files hold %d frames, fed %d", total, n)
			}
			// The rows name each segment's codec: the first clip's at the
			// start, the last clip's at the end.
			for i, name := range []string{tc.clips[0], tc.clips[len(tc.clips)-1]} {
				r := rows[i*(len(rows)-1)]
				want := "avc1."
				if loadClip(t, name).H265 {
					want = "hvc1.1.6.L63.90"
				}
				if !strings.HasPrefix(r.Codecs, want) || strings.Contains(r.Codecs, ",") {
					t.Errorf("segment %d: codecs %q, want the one video codec %s", r.ID, r.Codecs, want)
				}
			}
		})
	}
}

// F5 with the real writer: a torn write leaves a file that scans to its
// last complete fragment, matches its row and plays.
func TestRealWriterDiskFull(t *testing.T) {
	requireFFmpeg(t)
	env := realEnv(t, Config{FsyncInterval: time.Hour})
	writes := 0
	env.store.write = func(f *os.File, p []byte) (int, error) {
		writes++
		if writes == 3 {
			n, _ := f.Write(p[:len(p)/3])
			return n, syscall.ENOSPC
		}
		return f.Write(p)
	}
	s := newSegmenter(env.job.segmenterDeps())
	c := loadClip(t, testcam.ClipMain720)
	var err error
	for i, f := range c.Frames {
		if err = s.handle(item(f, clipParams(t, c), 0, t0.Add(time.Duration(i)*40*time.Millisecond))); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("no error from a full disk")
	}
	rows := env.store.segments()
	if len(rows) != 1 || rows[0].Frames == 0 {
		t.Fatalf("rows %+v", rows)
	}
	if fi, _ := os.Stat(env.store.path(rows[0].ID)); fi.Size() != rows[0].Bytes {
		t.Errorf("file %d bytes, row %d", fi.Size(), rows[0].Bytes)
	}
	checkRowMatchesFile(t, rows[0], env.store.path(rows[0].ID))
}

// e2e records the test camera with the real RTSP client and index until
// done reports true, then stops the job and checks every segment.
func e2e(t *testing.T, opts testcam.Options, cfg Config, done func(Status) bool) (Status, []storage.Segment, *testcam.Server) {
	t.Helper()
	requireFFmpeg(t)
	cam, err := testcam.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	store, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg.Camera = "testcam"
	cfg.RTSP.URL = cam.URL()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	}
	j, err := NewJob(cfg, Deps{Store: Segments(store)})
	if err != nil {
		t.Fatal(err)
	}
	stop := startJob(t, j)
	waitForLong(t, "the job to reach the expected state", 30*time.Second, func() bool { return done(j.Status()) })
	stop()
	st := j.Status()
	rows, _, err := store.ListSegments(context.Background(), cfg.Camera, 0, math.MaxInt64, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var frames int64
	for i, r := range rows {
		if r.State != storage.StateComplete {
			t.Errorf("segment %d left %s", r.ID, r.State)
		}
		checkRowMatchesFile(t, r, filepath.Join(store.RecordingsDir(), filepath.FromSlash(r.Path)))
		frames += r.Frames
		if i > 0 && r.StartNS < rows[i-1].EndNS {
			t.Errorf("segment %d overlaps the previous one", r.ID)
		}
		if i > 0 && r.RunID == rows[i-1].RunID && r.StartNS != rows[i-1].EndNS {
			t.Errorf("segments %d and %d of one run do not abut", rows[i-1].ID, r.ID)
		}
	}
	if uint64(frames) != st.Frames {
		t.Errorf("index holds %d frames, job wrote %d", frames, st.Frames)
	}
	return st, rows, cam
}

func waitForLong(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// F1 end to end: the camera drops the connection after a few seconds; the
// job finalises, reconnects, and every frame the camera sent is indexed.
func TestE2ECameraCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	st, rows, cam := e2e(t,
		testcam.Options{Clip: testcam.ClipBase240, CloseAfter: 1500 * time.Millisecond, Speed: 4},
		Config{SegmentDuration: 2 * time.Second, MinBackoff: 300 * time.Millisecond, MaxBackoff: time.Second},
		func(st Status) bool { return st.Reconnects >= 1 && st.State == StateRetrying })
	runs := map[int64]bool{}
	for _, r := range rows {
		runs[r.RunID] = true
	}
	if len(runs) < 2 || !strings.Contains(st.LastError, "closed") {
		t.Errorf("%d runs, LastError %q", len(runs), st.LastError)
	}
	// Stopped while waiting to reconnect: every session ended by the
	// camera, so everything it sent arrived over TCP.
	if sent := uint64(cam.Stats().FramesSent); st.Frames+st.DroppedFrames != sent {
		t.Errorf("camera sent %d frames, job wrote %d and dropped %d", sent, st.Frames, st.DroppedFrames)
	}
	t.Logf("%d segments, %d frames, %d reconnects", len(rows), st.Frames, st.Reconnects)
}

// F2 end to end: the camera keeps the connection but stops sending; the
// frame watchdog fires and the job reconnects.
func TestE2EStall(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	st, rows, _ := e2e(t,
		testcam.Options{Clip: testcam.ClipBase240, StallAfter: time.Second, Speed: 4},
		Config{FrameTimeout: 500 * time.Millisecond, RTSP: rtsp.Config{MediaTimeout: time.Minute}},
		func(st Status) bool { return st.Reconnects >= 1 && strings.Contains(st.LastError, "no frames") })
	if len(rows) == 0 {
		t.Fatal("nothing recorded")
	}
	if !strings.Contains(st.LastError, "no frames") {
		t.Errorf("LastError %q", st.LastError)
	}
}

// R18 end to end: the camera switches resolution in-band; a new segment
// with the new size follows.
func TestE2ESPSChange(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	_, rows, _ := e2e(t,
		testcam.Options{Clip: testcam.ClipHigh360BFrame, SPSChangeAfter: time.Second, SPSChangeClip: testcam.ClipBase240, Speed: 4},
		Config{},
		func(st Status) bool { return st.Width == 320 && st.Frames > 60 })
	sizes := map[string]bool{}
	for _, r := range rows {
		sizes[fmt.Sprintf("%dx%d", r.Width, r.Height)] = true
	}
	if !sizes["640x360"] || !sizes["320x240"] {
		t.Errorf("sizes recorded: %v", sizes)
	}
}

// Packet loss end to end: lost packets are counted and what is written
// still decodes without errors.
func TestE2EPacketLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	st, _, _ := e2e(t,
		testcam.Options{Clip: testcam.ClipBase240, DropEvery: 40, Speed: 4},
		Config{},
		func(st Status) bool { return st.PacketsLost >= 2 && st.SegmentsWritten+1 >= 1 && st.Frames > 40 })
	if st.PacketsLost == 0 {
		t.Error("no loss counted")
	}
}

// F9/F11 at the recorder's level: at any moment of recording (a kill -9
// keeps what was written, since it sits in the page cache), the open
// segment's file holds every frame but those of the fragment in progress,
// scans cleanly up to its last complete fragment, and plays.
func TestKillMidSegmentLosesAtMostAFragment(t *testing.T) {
	requireFFmpeg(t)
	c := loadClip(t, testcam.ClipMain720)
	for _, stopAt := range []int{30, 57, 99} {
		t.Run(strconv.Itoa(stopAt), func(t *testing.T) {
			env := realEnv(t, Config{FsyncInterval: time.Hour})
			s := newSegmenter(env.job.segmenterDeps())
			ps := clipParams(t, c)
			for i, f := range c.Frames[:stopAt] {
				if err := s.handle(item(f, ps, 0, t0.Add(time.Duration(i)*40*time.Millisecond))); err != nil {
					t.Fatal(err)
				}
			}
			// "Kill": copy the file as it is, without closing anything.
			data, err := os.ReadFile(env.store.path(1))
			if err != nil {
				t.Fatal(err)
			}
			// Tear it too, as a crash during a write would (F11).
			torn := filepath.Join(t.TempDir(), "torn.mp4")
			tornData := append(data, make([]byte, 777)...)
			if err := os.WriteFile(torn, tornData, 0o644); err != nil {
				t.Fatal(err)
			}
			// What recovery does: keep up to the last complete fragment.
			info, err := fmp4.Scan(bytes.NewReader(tornData), int64(len(tornData)))
			if err == nil {
				err = os.Truncate(torn, info.ValidSize)
			}
			if err != nil {
				t.Fatal(err)
			}
			fragment := framesPerFragment()
			if lost := stopAt - len(info.Samples); lost > fragment+1 || lost < 0 {
				t.Errorf("killed after %d frames: file holds %d (lost %d, at most %d allowed)", stopAt, len(info.Samples), lost, fragment+1)
			}
			if fi, _ := os.Stat(torn); fi.Size() != info.ValidSize || info.ValidSize > int64(len(data)) {
				t.Errorf("recovered size %d, valid %d, written %d", fi.Size(), info.ValidSize, len(data))
			}
			if len(info.Samples) > 0 {
				if n := checkPlayable(t, torn); n != len(info.Samples) {
					t.Errorf("ffprobe decodes %d frames of %d", n, len(info.Samples))
				}
			}
			s.endRun()
		})
	}
}

// S3 end to end: with Digest auth, a wrong password gives a retrying job
// whose LastError names the failure but never the password; the right one
// records.
func TestE2EAuthNeverLeaksPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	cam, err := testcam.Start(testcam.Options{Clip: testcam.ClipBase240, Auth: testcam.AuthDigest, Username: "admin", Password: "right-pass", Speed: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	for _, tc := range []struct {
		password string
		record   bool
	}{{"wr%3Ang:pass", false}, {"right-pass", true}} {
		t.Run(tc.password, func(t *testing.T) {
			u := strings.Replace(cam.URL(), "right-pass", tc.password, 1)
			j, err := NewJob(Config{Camera: "auth", RTSP: rtsp.Config{URL: u}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
				Deps{Store: newFakeStore(t)})
			if err != nil {
				t.Fatal(err)
			}
			stop := startJob(t, j)
			waitForLong(t, "a verdict", 20*time.Second, func() bool {
				st := j.Status()
				return st.Frames > 0 || st.LastError != ""
			})
			stop()
			st := j.Status()
			for _, secret := range []string{tc.password, "wr:ng:pass", "right-pass"} {
				if strings.Contains(st.LastError, secret) {
					t.Errorf("LastError %q holds the password", st.LastError)
				}
			}
			if got := st.Frames > 0; got != tc.record {
				t.Errorf("recorded=%v, want %v (LastError %q)", got, tc.record, st.LastError)
			}
			if !tc.record && !strings.Contains(strings.ToLower(st.LastError), "auth") {
				t.Errorf("LastError %q does not name the auth failure", st.LastError)
			}
		})
	}
}
