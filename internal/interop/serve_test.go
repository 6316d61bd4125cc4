package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// nvrProc is a running `nvr serve`.
type nvrProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	log    string
	exited chan struct{}
}

// serveStartTimeout bounds the wait for nvr's API after start.
const serveStartTimeout = 15 * time.Second

func startServe(t *testing.T, cfgPath, listen string) *nvrProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "nvr.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// -init: each test starts with a new data_dir.
	cmd := exec.Command(nvrBin, "serve", "-init", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nvrProc{t: t, cmd: cmd, base: "http://" + listen, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("nvr log (last 4 KiB):\n%s", tail(b, 4096))
		}
	})
	p.waitFor(serveStartTimeout, "API up", func() bool {
		resp, err := http.Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (p *nvrProc) waitFor(d time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		select {
		case <-p.exited:
			p.t.Fatalf("nvr exited while waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *nvrProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Fatal("nvr did not exit within 15 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("nvr exit code %d after SIGTERM", code)
	}
}

func (p *nvrProc) getJSON(path string, v any) int {
	p.t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			p.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type cameraJSON struct {
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Segments  int64  `json:"segments"`
}

func (p *nvrProc) camera(id string) cameraJSON {
	var c cameraJSON
	if code := p.getJSON("/api/cameras/"+id, &c); code != http.StatusOK {
		p.t.Fatalf("GET camera %s: %d", id, code)
	}
	return c
}

// apiSegment is a complete segment as the API lists it.
type apiSegment struct {
	Start, End    time.Time
	Frames        int64
	Width, Height int
}

func (s apiSegment) fps() float64 { return float64(s.Frames) / s.End.Sub(s.Start).Seconds() }

func (p *nvrProc) segments(id string) []apiSegment {
	p.t.Helper()
	var list struct {
		Segments []struct {
			Start  string  `json:"start"`
			End    *string `json:"end"`
			Frames int64   `json:"frames"`
			Width  int     `json:"width"`
			Height int     `json:"height"`
		} `json:"segments"`
	}
	if code := p.getJSON("/api/cameras/"+id+"/segments?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z", &list); code != http.StatusOK {
		p.t.Fatalf("segments of %s: %d", id, code)
	}
	var out []apiSegment
	for _, s := range list.Segments {
		if s.End == nil {
			continue
		}
		a := apiSegment{Frames: s.Frames, Width: s.Width, Height: s.Height}
		var err1, err2 error
		a.Start, err1 = time.Parse(time.RFC3339Nano, s.Start)
		a.End, err2 = time.Parse(time.RFC3339Nano, *s.End)
		if err1 != nil || err2 != nil {
			p.t.Fatalf("segment times %q %q", s.Start, *s.End)
		}
		out = append(out, a)
	}
	return out
}

// TestServeIndependentServers records a gortsplib server (1080p30 High,
// three B-frames, four slices, TCP, Digest) and a GStreamer server (UDP,
// Digest, 640x360 at 15 fps), kills both servers mid-stream and brings them back
// with another resolution and frame rate (a reconnect and an SPS change),
// exports random ranges across segment boundaries, the reconnect gap and
// the SPS change, and decodes everything with ffmpeg.
func TestServeIndependentServers(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	needGst(t)
	const user, pass = "nvr", "s3cr:t@x y"
	before1080 := clipSpec{Width: 1920, Height: 1080, Rate: "30", FPS: 30, Keyint: 60, Profile: "high", BFrames: 3, Slices: 4, Seconds: 8}
	after480 := spec480
	clipA, clipB := clips.get(t, before1080), clips.get(t, after480)

	gortPort, gstPort := freePort(t), freePort(t)
	gort := startGort(t, clipA, gortOptions{Port: gortPort, User: user, Password: pass})
	// No B-frames before the kill: a kill between a reference frame and its
	// B-frames is TestExportAfterMidGOPCut's subject.
	gstBefore := gstOptions{Port: gstPort, Width: 640, Height: 360, FPS: 15, Keyint: 15, Profile: "high", Auth: "digest", User: user, Password: pass}
	gstAfter := gstOptions{Port: gstPort, Width: 426, Height: 240, FPS: 25, Keyint: 25, Profile: "main", Auth: "digest", User: user, Password: pass}
	gst := startGst(t, gstBefore)

	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "nvr.yaml")
	dataDir := filepath.Join(dir, "data")
	cfg := fmt.Sprintf(`data_dir: %s
listen: %s
segment_duration: 3s
fsync_interval: 1s
cameras:
  - id: gort
    url: '%s'
    transport: tcp
  - id: gst
    url: '%s'
    transport: udp
`, dataDir, listen, gort.URL(), gst.URL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfgPath, listen)
	cams := []string{"gort", "gst"}
	p.waitFor(20*time.Second, "three segments of each camera", func() bool {
		return p.camera("gort").Segments >= 3 && p.camera("gst").Segments >= 3
	})
	for _, id := range cams {
		if c := p.camera(id); c.State != "recording" {
			t.Fatalf("camera %s: state %q (%s)", id, c.State, c.LastError)
		}
	}

	// Both servers die mid-stream and come back with other streams.
	killed := time.Now()
	gort.Cut(t, cutClean)
	gst.Kill()
	time.Sleep(1500 * time.Millisecond)
	gort = startGort(t, clipB, gortOptions{Port: gortPort, User: user, Password: pass})
	gst = startGst(t, gstAfter)
	restarted := time.Now()
	p.waitFor(30*time.Second, "two segments of each camera after the reconnect", func() bool {
		for _, id := range cams {
			n := 0
			for _, s := range p.segments(id) {
				if s.Start.After(restarted) {
					n++
				}
			}
			if n < 2 {
				return false
			}
		}
		return true
	})

	sizes := map[string][2][2]int{
		"gort": {{before1080.Width, before1080.Height}, {after480.Width, after480.Height}},
		"gst":  {{gstBefore.Width, gstBefore.Height}, {gstAfter.Width, gstAfter.Height}},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for _, id := range cams {
		segs := p.segments(id)
		var before, after []apiSegment
		for _, s := range segs {
			if s.End.Before(killed.Add(time.Second)) {
				before = append(before, s)
			} else if s.Start.After(killed) {
				after = append(after, s)
			}
		}
		if len(before) < 3 || len(after) < 2 || len(before)+len(after) != len(segs) {
			t.Fatalf("%s: %d segments before the kill, %d after, %d in all", id, len(before), len(after), len(segs))
		}
		for _, s := range before {
			if want := sizes[id][0]; s.Width != want[0] || s.Height != want[1] {
				t.Errorf("%s: segment before the kill is %dx%d, want %dx%d", id, s.Width, s.Height, want[0], want[1])
			}
		}
		for _, s := range after {
			if want := sizes[id][1]; s.Width != want[0] || s.Height != want[1] {
				t.Errorf("%s: segment after the restart is %dx%d, want %dx%d", id, s.Width, s.Height, want[0], want[1])
			}
		}
		within := func(s apiSegment) time.Time {
			// A random instant well inside s, so an export never starts or
			// ends in a gap.
			d := s.End.Sub(s.Start)
			return s.Start.Add(d/10 + time.Duration(rng.Int64N(int64(d*8/10))))
		}
		ranges := []struct {
			name     string
			from, to time.Time
		}{
			{"across segment boundaries", within(before[0]), within(before[2])},
			{"across the reconnect and SPS change", within(before[len(before)-1]), within(after[0])},
			{"from the first segment to the last", within(segs[0]), within(segs[len(segs)-1])},
		}
		for i := 0; i < 2; i++ {
			a, b := rng.IntN(len(segs)), rng.IntN(len(segs))
			if a > b {
				a, b = b, a
			}
			from, to := within(segs[a]), within(segs[b])
			if !to.After(from.Add(500 * time.Millisecond)) {
				to = segs[b].End.Add(-50 * time.Millisecond)
				from = segs[a].Start.Add(50 * time.Millisecond)
			}
			ranges = append(ranges, struct {
				name     string
				from, to time.Time
			}{fmt.Sprintf("random %d", i), from, to})
		}
		for _, r := range ranges {
			t.Run(id+" "+r.name, func(t *testing.T) {
				checkExport(t, p, id, r.from, r.to, segs, dir)
			})
		}
	}

	p.stop()
	for _, id := range cams {
		checkIndex(t, dataDir, id, killed)
	}
}

// checkExport downloads [from, to) of camera id and checks the decoded
// frames against the time the export claims.
func checkExport(t *testing.T, p *nvrProc, id string, from, to time.Time, segs []apiSegment, dir string) {
	url := fmt.Sprintf("%s/api/cameras/%s/export?start=%s&end=%s", p.base, id,
		from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("export %s..%s: %d %v %.200s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), resp.StatusCode, err, body)
	}
	var gap time.Duration
	if h := resp.Header.Get("X-Nvr-Gaps"); h != "" {
		for _, g := range strings.Split(h, ",") {
			se := strings.Split(g, "/")
			if len(se) != 2 {
				t.Fatalf("X-Nvr-Gaps %q", h)
			}
			gs, err1 := time.Parse(time.RFC3339Nano, se[0])
			ge, err2 := time.Parse(time.RFC3339Nano, se[1])
			if err1 != nil || err2 != nil || !ge.After(gs) {
				t.Fatalf("X-Nvr-Gaps %q", h)
			}
			gs, ge = maxTime(gs, from), minTime(ge, to)
			if ge.After(gs) {
				gap += ge.Sub(gs)
			}
		}
	}
	// What the index says the range holds: frames at each segment's rate,
	// the longest frame interval as the tolerance, and the sizes in order.
	var wantFrames float64
	var frameDur float64
	var wantSizes [][2]int
	var recorded time.Duration
	for _, s := range segs {
		a, b := maxTime(s.Start, from), minTime(s.End, to)
		if !b.After(a) {
			continue
		}
		recorded += b.Sub(a)
		wantFrames += b.Sub(a).Seconds() * s.fps()
		frameDur = math.Max(frameDur, 1/s.fps())
		if n := len(wantSizes); n == 0 || wantSizes[n-1] != [2]int{s.Width, s.Height} {
			wantSizes = append(wantSizes, [2]int{s.Width, s.Height})
		}
	}
	wantDur := to.Sub(from) - gap
	if d := (wantDur - recorded).Seconds(); math.Abs(d) > 2*frameDur {
		t.Errorf("X-Nvr-Gaps leaves %s, but the segments hold %s of the range", wantDur, recorded)
	}

	if keep := os.Getenv("NVR_INTEROP_KEEP"); keep != "" {
		dir = keep // for a look at the exports after the test
	}
	path := filepath.Join(dir, fmt.Sprintf("export-%s-%d.mp4", id, from.UnixNano()))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpegDecode(t, path)
	frames := ffprobeFrames(t, path)
	if len(frames) == 0 {
		t.Fatal("export decodes to no frames")
	}
	// The edit list hides the frames from the keyframe before the start:
	// the first frame shown is the one at the requested start.
	if first := frames[0].PTS; first < -0.001 || first > frameDur+0.001 {
		t.Errorf("first frame shown at %.3f s, want 0 (within one frame, %.3f s)", first, frameDur)
	}
	last := frames[len(frames)-1].PTS
	if got := last + frameDur; math.Abs(got-wantDur.Seconds()) > 1.5*frameDur {
		t.Errorf("last frame ends at %.3f s, want %.3f s (range %s minus gaps %s)", got, wantDur.Seconds(), to.Sub(from), gap)
	}
	if n := float64(len(frames)); math.Abs(n-wantFrames) > 2.5 {
		t.Errorf("%d frames decoded, want %.1f (the segments' rates over the range)", len(frames), wantFrames)
	}
	var sizes [][2]int
	for i, f := range frames {
		if i > 0 && f.PTS <= frames[i-1].PTS {
			t.Errorf("frame %d shown at %.4f s, not after frame %d at %.4f s", i, f.PTS, i-1, frames[i-1].PTS)
			break
		}
		if n := len(sizes); n == 0 || sizes[n-1] != [2]int{f.Width, f.Height} {
			sizes = append(sizes, [2]int{f.Width, f.Height})
		}
	}
	if fmt.Sprint(sizes) != fmt.Sprint(wantSizes) {
		t.Errorf("decoded frame sizes %v, want %v", sizes, wantSizes)
	}
	for _, s := range segs {
		if s.End.After(from) && s.Start.Before(to) {
			t.Logf("segment %s..%s %dx%d %d frames, %.3f fps", s.Start.Format("15:04:05.000"), s.End.Format("15:04:05.000"), s.Width, s.Height, s.Frames, s.fps())
		}
	}
	t.Logf("%s..%s: %d frames, %.3f s, gaps %s", from.Format("15:04:05.000"), to.Format("15:04:05.000"), len(frames), last+frameDur, gap)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// checkIndex checks every segment of camera on disk against the index: it
// is complete, its file scans whole, starts with a keyframe, has the
// indexed frame count (ffmpeg decodes it cleanly and counts the same), and
// consecutive segments abut except across the one reconnect after killed.
func checkIndex(t *testing.T, dataDir, camera string, killed time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	segs, _, err := st.ListSegments(ctx, camera, 0, time.Now().Add(time.Hour).UnixNano(), 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 {
		t.Fatalf("%s: %d segments", camera, len(segs))
	}
	breaks := 0
	for i, s := range segs {
		if s.State != storage.StateComplete {
			t.Errorf("%s: segment %s state %q", camera, s.Path, s.State)
		}
		f, err := st.OpenSegmentFile(s)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		info, err := fmp4.Scan(f, fi.Size())
		f.Close()
		if err != nil {
			t.Fatalf("%s: segment %s: %v", camera, s.Path, err)
		}
		if info.ValidSize != fi.Size() || fi.Size() != s.Bytes {
			t.Errorf("%s: segment %s: file %d bytes, valid %d, index %d", camera, s.Path, fi.Size(), info.ValidSize, s.Bytes)
		}
		if len(info.Samples) == 0 || !info.Samples[0].Keyframe {
			t.Errorf("%s: segment %s does not start with a keyframe", camera, s.Path)
		}
		if int64(len(info.Samples)) != s.Frames {
			t.Errorf("%s: segment %s: %d samples in the file, %d frames indexed", camera, s.Path, len(info.Samples), s.Frames)
		}
		path := filepath.Join(dataDir, "recordings", filepath.FromSlash(s.Path))
		ffmpegDecode(t, path)
		if n := len(ffprobeFrames(t, path)); int64(n) != s.Frames {
			t.Errorf("%s: segment %s: ffprobe decodes %d frames, index says %d", camera, s.Path, n, s.Frames)
		}
		if i == 0 {
			continue
		}
		prev := segs[i-1]
		switch {
		case s.StartNS < prev.EndNS:
			t.Errorf("%s: segment %s overlaps the previous one by %s", camera, s.Path, time.Duration(prev.EndNS-s.StartNS))
		case s.StartNS > prev.EndNS:
			breaks++
			if prev.EndNS > killed.UnixNano()+int64(time.Second) || s.StartNS < killed.UnixNano() {
				t.Errorf("%s: segments %s and %s do not abut (gap %s) away from the reconnect", camera, prev.Path, s.Path, time.Duration(s.StartNS-prev.EndNS))
			}
		}
	}
	if breaks != 1 {
		t.Errorf("%s: %d breaks between segments, want the one reconnect", camera, breaks)
	}
}
