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

// kill ends nvr with SIGKILL, as a power cut would, and waits for it.
func (p *nvrProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
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
	t.Parallel() // mostly waiting on real-time streams
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
	startGort(t, clipB, gortOptions{Port: gortPort, User: user, Password: pass}) // closed by the test's cleanup
	startGst(t, gstAfter)
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

	// nvr itself dies at a random moment (SIGKILL) and starts again: the
	// segments it was writing are recovered and recording goes on.
	time.Sleep(time.Duration(500+rng.IntN(2000)) * time.Millisecond)
	nvrKilled := time.Now()
	p.kill()
	p = startServe(t, cfgPath, listen)
	p.waitFor(30*time.Second, "a segment of each camera after nvr's restart", func() bool {
		for _, id := range cams {
			n := 0
			for _, s := range p.segments(id) {
				if s.Start.After(nvrKilled) {
					n++
				}
			}
			if n < 1 {
				return false
			}
		}
		return true
	})
	p.stop()
	for _, id := range cams {
		checkIndex(t, dataDir, id, []time.Time{killed, nvrKilled}, 6)
	}
}

// slew is how far a segment's wall-clock span may differ from its media
// duration: the recorder slews wall time toward the camera's clock by up to
// 1% (the same bound cmd/nvr's checkIndex allows).
const slew = 0.01

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
	// wantSizes are the picture sizes the export shows in order; an
	// optional one belongs to a segment that overlaps the range by less
	// than a frame and may or may not show.
	type wantSize struct {
		size     [2]int
		at       float64 // clip time where it starts
		optional bool
	}
	var wantSizes []wantSize
	var recorded time.Duration
	for _, s := range segs {
		a, b := maxTime(s.Start, from), minTime(s.End, to)
		if !b.After(a) {
			continue
		}
		at := recorded.Seconds()
		recorded += b.Sub(a)
		wantFrames += b.Sub(a).Seconds() * s.fps()
		frameDur = math.Max(frameDur, 1/s.fps())
		// A segment that overlaps the range by less than a frame may show
		// nothing: the edit list starts exactly at the requested time and
		// ffmpeg drops a frame that began before it. It may also show its
		// frame: either is right.
		optional := b.Sub(a).Seconds() < 1/s.fps()
		size := [2]int{s.Width, s.Height}
		if n := len(wantSizes); n > 0 && wantSizes[n-1].size == size {
			wantSizes[n-1].optional = wantSizes[n-1].optional && optional
			continue
		}
		wantSizes = append(wantSizes, wantSize{size: size, at: at, optional: optional})
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
	if got := last + frameDur; math.Abs(got-wantDur.Seconds()) > 1.5*frameDur+wantDur.Seconds()*slew {
		t.Errorf("last frame ends at %.3f s, want %.3f s (range %s minus gaps %s)", got, wantDur.Seconds(), to.Sub(from), gap)
	}
	if n := float64(len(frames)); math.Abs(n-wantFrames) > 2.5 {
		t.Errorf("%d frames decoded, want %.1f (the segments' rates over the range)", len(frames), wantFrames)
	}
	var sizes [][2]int
	var shownAt []float64
	for i, f := range frames {
		if i > 0 && f.PTS <= frames[i-1].PTS {
			t.Errorf("frame %d shown at %.4f s, not after frame %d at %.4f s", i, f.PTS, i-1, frames[i-1].PTS)
			break
		}
		if n := len(sizes); n == 0 || sizes[n-1] != [2]int{f.Width, f.Height} {
			sizes = append(sizes, [2]int{f.Width, f.Height})
			shownAt = append(shownAt, f.PTS)
		}
	}
	// Match the decoded sizes against the wanted ones, skipping optional
	// ones that did not show.
	var sizeAt []float64
	j := 0
	for _, w := range wantSizes {
		if j < len(sizes) && sizes[j] == w.size {
			sizeAt = append(sizeAt, w.at)
			j++
		} else if !w.optional {
			j = -1
			break
		}
	}
	if j != len(sizes) {
		t.Errorf("decoded frame sizes %v, want %+v", sizes, wantSizes)
	} else {
		// After an SPS change the first frame of the new size is shown
		// at the time it was taken: its wall time less the start and the
		// gaps before it (a size whose segment starts before the range
		// shows from the start).
		for i := 1; i < len(sizes); i++ {
			if math.Abs(shownAt[i]-sizeAt[i]) > frameDur+sizeAt[i]*slew {
				t.Errorf("first %dx%d frame shown at %.3f s, taken at %.3f s into the export", sizes[i][0], sizes[i][1], shownAt[i], sizeAt[i])
			}
		}
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
// consecutive segments abut except once across each of breaks (a camera
// reconnect or an nvr restart).
func checkIndex(t *testing.T, dataDir, camera string, breaks []time.Time, minSegments int) {
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
	if len(segs) < minSegments {
		t.Fatalf("%s: %d segments", camera, len(segs))
	}
	holes := 0
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
		// The segment's span (the index's EndNS-StartNS) is its decode
		// span; every frame must also be shown within it, or exports show
		// the following footage late.
		if n := len(info.Samples); n > 0 {
			first := info.Samples[0].DTS + int64(info.Samples[0].CTO)
			var end int64
			for _, x := range info.Samples {
				end = max(end, x.DTS+int64(x.CTO)+int64(x.Duration))
			}
			if over := end - first - info.Duration; over > int64(info.Samples[n-1].Duration) {
				t.Errorf("%s: segment %s: frames shown %.3f s past its %.3f s span (last frames: %s)", camera, s.Path,
					float64(over)/float64(info.Timescale), float64(info.Duration)/float64(info.Timescale), lastSamples(info.Samples, 4))
			}
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
			holes++
			explained := false
			for _, b := range breaks {
				// The recording stops at most a second after the break
				// (frames in flight) and resumes after it.
				if prev.EndNS <= b.UnixNano()+int64(time.Second) && s.StartNS >= b.UnixNano() {
					explained = true
				}
			}
			if !explained {
				t.Errorf("%s: segments %s and %s do not abut (gap %s) away from a reconnect", camera, prev.Path, s.Path, time.Duration(s.StartNS-prev.EndNS))
			}
		}
	}
	if holes != len(breaks) {
		t.Errorf("%s: %d breaks between segments, want %d", camera, holes, len(breaks))
	}
}

// lastSamples describes the last n samples for an error message.
func lastSamples(s []fmp4.SampleInfo, n int) string {
	var b strings.Builder
	for _, x := range s[max(0, len(s)-n):] {
		fmt.Fprintf(&b, "[dts %d cto %d dur %d key %v] ", x.DTS, x.CTO, x.Duration, x.Keyframe)
	}
	return b.String()
}
