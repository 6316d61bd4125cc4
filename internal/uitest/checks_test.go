package uitest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// The checks here run in every browser the tests drive (TestUI in
// Chromium, TestFirefox, TestWebKit): each takes the page it drives.

// runChecks runs, as subtests, the checks of playback and live view every
// browser runs, on a site listing cameras cameras.
func runChecks(t *testing.T, p tab, s *site, cameras int) {
	poll(t, p, 10*time.Second, "the cameras listed", fmt.Sprintf(`document.querySelectorAll('#camera-list li').length === %d`, cameras))
	if n := eval[int](t, p, `document.querySelectorAll('img').length`); n != 0 {
		t.Fatalf("%d <img> elements: a camera name was parsed as HTML", n)
	}
	segs := s.segments(t, "cam")
	at := segs[1].Start.Add(370 * time.Millisecond)
	t.Run("deep link shows the frame the index holds", func(t *testing.T) { checkDeepLink(t, p, s, at) })
	t.Run("the picture on screen is the frame the index holds", func(t *testing.T) { checkFrameOnScreen(t, p, s) })
	t.Run("plays across segment boundaries without a stall", func(t *testing.T) { checkPlaysOn(t, p); p.noErrors(t) })
	t.Run("scrub preview", func(t *testing.T) { checkScrubPreview(t, p, s, segs[2]) })
	t.Run("two cameras in sync", func(t *testing.T) { checkInSync(t, p, s, at) })
	t.Run("export from the UI decodes", func(t *testing.T) { checkExport(t, p, s) })
	t.Run("live view", func(t *testing.T) { checkLiveTiles(t, p, s) })
}

// checkDeepLink opens a link to moment at of camera cam: the first frame
// shown must be the frame the index holds at that moment, within one frame.
func checkDeepLink(t *testing.T, p tab, s *site, at time.Time) {
	want, frame, ok := frameStart(s.segments(t, "cam"), at)
	if !ok {
		t.Fatal("no segment holds the moment")
	}
	p.navigate(t, s.base+"/?camera=cam&t="+at.UTC().Format(time.RFC3339Nano))
	poll(t, p, 15*time.Second, "the first frame after the seek", `!!(window.nvr && nvr.state.lastSeek && nvr.state.lastSeek.frame)`)
	shown := eval[float64](t, p, `nvr.state.lastSeek.frame`)
	got := time.UnixMilli(int64(shown))
	if d := got.Sub(want); d < -frame/2-time.Millisecond || d > frame/2+time.Millisecond {
		t.Fatalf("first frame shown at %s, the index holds the frame of %s at %s (frame %s, off by %s)",
			got.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano), frame, d)
	}
	t.Logf("deep link: first frame %.0f ms after the seek", eval[float64](t, p, `nvr.state.lastSeek.frameAt - nvr.state.lastSeek.startedAt`))
	url := eval[string](t, p, `location.search`)
	if !strings.Contains(url, "camera=cam") || !strings.Contains(url, "t=") {
		t.Fatalf("URL %q does not name the camera and moment", url)
	}
	p.noErrors(t)
}

// checkFrameOnScreen: the test camera draws each frame's number into its
// picture. Paused after playing, and after a step of one frame, the number
// on screen must be the number of the frame the index holds at the wall
// time the UI gives it (half a millisecond later where the UI gives a
// frame's start, so rounding cannot put it on the frame before), as ffmpeg
// decodes it from an export; or, the "within one frame", of the
// frame after, when that starts less than a frame after the time shown.
// Pixels against pixels, so the UI's own bookkeeping is not what is
// checked. Camera cam plays on afterwards.
func checkFrameOnScreen(t *testing.T, p tab, s *site) {
	poll(t, p, 10*time.Second, "playing", `nvr.state.playing && nvr.players.get('cam').frameWall != null`)
	defer eval[any](t, p, `nvr.setPlaying(true)`)
	time.Sleep(700 * time.Millisecond)
	for _, action := range []struct{ name, key string }{{"paused", " "}, {"stepped a frame", "."}} {
		before := eval[float64](t, p, `nvr.players.get('cam').frameWall`)
		p.press(t, action.key)
		poll(t, p, 10*time.Second, "paused on a frame", `!nvr.state.playing && nvr.players.get('cam').video.paused &&
			!nvr.players.get('cam').video.seeking && nvr.players.get('cam').frameWall != null`)
		if action.key == "." {
			poll(t, p, 10*time.Second, "the step's frame", `nvr.players.get('cam').frameWall > `+fmt.Sprint(before))
		}
		// A loaded machine draws late: the picture and its time count once
		// two readings 300 ms apart agree (within 5 s).
		var shot picture
		n := -1
		for deadline := time.Now().Add(5 * time.Second); ; {
			time.Sleep(300 * time.Millisecond)
			next := onScreen(t, p, "cam")
			m, err := testcam.FrameNumber(next.red, next.W)
			if err != nil {
				t.Fatalf("%s: the picture on screen: %v", action.name, err)
			}
			if m == n && next.Wall == shot.Wall || time.Now().After(deadline) {
				break
			}
			shot, n = next, m
		}
		wall := time.UnixMicro(int64(math.Round(shot.Wall * 1000)))
		at := wall
		if !shot.Within {
			at = at.Add(500 * time.Microsecond)
		}
		inIndex := indexFrameAt(t, s, "cam", at)
		if n == inIndex {
			t.Logf("%s: frame %d on screen at %s, as the index holds", action.name, n, wall.Format(time.RFC3339Nano))
			continue
		}
		// The bound: the time shown is the index's time of the
		// frame on screen within one frame. A time up to a frame before
		// the frame's start is the frame before in the index, and one
		// frame later is this frame.
		_, frame, ok := frameStart(s.segments(t, "cam"), wall)
		if !ok || n != inIndex+1 || indexFrameAt(t, s, "cam", at.Add(frame)) != n {
			t.Fatalf("%s: frame %d on screen, the clock shows %q (%s), where the index holds frame %d",
				action.name, n, shot.Clock, wall.Format(time.RFC3339Nano), inIndex)
		}
		t.Logf("%s: frame %d on screen at %s, less than a frame (%s) before the index's time of it", action.name, n, wall.Format(time.RFC3339Nano), frame)
	}
	p.noErrors(t)
}

// checkPlaysOn: while the page plays, its clock advances with real time
// across segment boundaries (two-second segments: four seconds cross at
// least one).
func checkPlaysOn(t *testing.T, p tab) {
	c0 := eval[string](t, p, `document.getElementById('clock').textContent`)
	start := time.Now()
	time.Sleep(4 * time.Second)
	c1 := eval[string](t, p, `document.getElementById('clock').textContent`)
	advanced, elapsed := uiTime(t, c1).Sub(uiTime(t, c0)), time.Since(start)
	if advanced < elapsed-700*time.Millisecond || advanced > elapsed+500*time.Millisecond {
		t.Fatalf("clock advanced %s in %s of playing", advanced, elapsed)
	}
}

// checkInSync opens cameras cam and cam2 at moment at: they play the same
// wall-clock moment within 100 ms, also after one is knocked ahead.
func checkInSync(t *testing.T, p tab, s *site, at time.Time) {
	p.navigate(t, s.base+"/?camera=cam&camera=cam2&t="+at.UTC().Format(time.RFC3339Nano))
	poll(t, p, 15*time.Second, "both cameras playing", `nvr.players.size === 2 && [...nvr.players.values()].every(p => p.frameWall && !p.video.paused)`)
	// Both positions read in one evaluation, five times over a second: the
	// median distance must be within 100 ms.
	inSync := func(when string) {
		t.Helper()
		var ds []time.Duration
		for range 5 {
			d := eval[float64](t, p, `(() => { const [a, c] = [...nvr.players.values()]; return a.wallNow() - c.wallNow(); })()`)
			ds = append(ds, time.Duration(math.Abs(d)*float64(time.Millisecond)))
			time.Sleep(200 * time.Millisecond)
		}
		slices.Sort(ds)
		if med := ds[len(ds)/2]; med > 100*time.Millisecond {
			t.Fatalf("%s: cameras %s apart (median of %v)", when, med, ds)
		}
	}
	time.Sleep(time.Second)
	inSync("playing")
	// Knock the second camera ahead, as a slow decoder or a stall would: by
	// 0.6 s it is moved back, by 0.2 s it plays slower until it is back.
	// Either way the sync pulls it in.
	for _, knock := range []string{"0.6", "0.2"} {
		eval[any](t, p, `(() => { const c = [...nvr.players.values()][1]; c.video.currentTime += `+knock+`; })()`)
		time.Sleep(2 * time.Second)
		inSync("after a " + knock + " s knock")
	}
	p.noErrors(t)
}

// checkLiveTiles opens the live view of cameras cam and cam2: both tiles
// play and the picture moves on; the latency from a frame's arrival at nvr
// to the screen is logged and bounded.
func checkLiveTiles(t *testing.T, p tab, s *site) {
	p.navigate(t, s.base+"/?camera=cam&camera=cam2")
	poll(t, p, 10*time.Second, "both live tiles playing",
		`nvr.state.live && nvr.players.size === 2 && [...nvr.players.values()].every(p => p.mode === 'live' && p.video.currentTime > 0.5)`)
	poll(t, p, 10*time.Second, "200 frames measured", `nvr.state.liveLatency.length >= 200`)
	liveAdvances(t, p, "cam")
	liveAdvances(t, p, "cam2")
	lat := eval[[]float64](t, p, `nvr.state.liveLatency.slice(-200)`)
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	t.Logf("live latency from arrival at nvr to the screen: p50 %.0f ms, p95 %.0f ms (%d frames)", p50, p95, len(lat))
	// The target is 500 ms at the 95th percentile; a loaded CI machine
	// gets twice that before this fails.
	if p95 > 1000 {
		t.Fatalf("live latency p95 %.0f ms", p95)
	}
	p.noErrors(t)
}

// checkScrubPreview: the pointer over the timeline in the middle of
// segment seg of camera cam shows the picture of that moment, and the
// preview the API sends for it is one frame, the keyframe that shows it.
func checkScrubPreview(t *testing.T, p tab, s *site, seg segment) {
	mid := seg.Start.Add(seg.End.Sub(seg.Start) / 2)
	hover := fmt.Sprintf(`(() => {
		const c = document.getElementById('timeline'), r = c.getBoundingClientRect(), v = nvr.state.view;
		const x = (%d - v.start) / (v.end - v.start) * c.clientWidth;
		c.dispatchEvent(new PointerEvent('pointermove', {clientX: r.left + x, clientY: r.top + 40, bubbles: true}));
		return true; })()`, mid.UnixMilli())
	poll(t, p, 10*time.Second, "the spans drawn", `(nvr.spans.get('cam')?.list.length || 0) > 0`)
	for deadline := time.Now().Add(10 * time.Second); !eval[bool](t, p, hover+` && nvr.state.previews > 0 && !document.getElementById('preview').hidden`); {
		if time.Now().After(deadline) {
			t.Fatalf("no scrub preview: %s", eval[string](t, p, `JSON.stringify({p: nvr.preview(), view: nvr.state.view, spans: nvr.spans.get('cam')?.list})`))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The test clip's frames are drawn numbers on grey bars: a drawn
	// preview has both black and white and shades between.
	poll(t, p, 5*time.Second, "a picture in the preview", `(() => { const d = document.getElementById('preview-canvas').getContext('2d').getImageData(0, 0, 192, 108).data;
		const s = new Set(); for (let i = 0; i < d.length; i += 16) s.add(d[i] >> 4 << 8 | d[i+1] >> 4 << 4 | d[i+2] >> 4); return s.size >= 8; })()`)
	at := seg.Start.Add(300 * time.Millisecond)
	resp, err := http.Get(s.base + "/api/cameras/cam/preview?t=" + at.UTC().Format(time.RFC3339Nano))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	kf, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Nvr-Keyframe"))
	if resp.StatusCode != 200 || err != nil || kf.After(at) {
		t.Fatalf("preview: %d, keyframe %q", resp.StatusCode, resp.Header.Get("X-Nvr-Keyframe"))
	}
	if n := countFrames(t, body); n != 1 {
		t.Fatalf("the preview has %d frames", n)
	}
	p.noErrors(t)
}

// countFrames is the number of video frames ffprobe decodes from an MP4.
func countFrames(t *testing.T, mp4 []byte) int {
	t.Helper()
	f := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(f, mp4, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(need(t, "ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", f).CombinedOutput()
	n, perr := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || perr != nil {
		t.Fatalf("ffprobe: %v %q (%d bytes)", err, out, len(mp4))
	}
	return n
}

// checkExport marks In and Out with the UI's buttons while it plays: the
// two links it offers (the clip, and the clip with wall-clock subtitles)
// download MP4s that decode, and the size is shown before downloading.
func checkExport(t *testing.T, p tab, s *site) {
	poll(t, p, 10*time.Second, "playing", `nvr.state.playing && !nvr.state.live && nvr.state.lastFrameAt != null`)
	p.click(t, "#mark-in")
	time.Sleep(1500 * time.Millisecond)
	p.click(t, "#mark-out")
	poll(t, p, 10*time.Second, "download links", `document.querySelectorAll('#export-links a').length === 2`)
	hrefs := eval[[]string](t, p, `[...document.querySelectorAll('#export-links a')].map(a => a.href)`)
	info := eval[string](t, p, `document.getElementById('export-info').textContent`)
	if !strings.Contains(info, "KB") && !strings.Contains(info, "MB") {
		t.Fatalf("export info %q shows no size", info)
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h, s.base+"/") {
			t.Fatalf("export link %q is not nvr's", h)
		}
		resp, err := http.Get(h)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", h, resp.StatusCode, body)
		}
		if n := countFrames(t, body); n == 0 {
			t.Fatalf("%s decodes to no frame", h)
		}
	}
	p.noErrors(t)
}

// typeInto clicks the field css selects and types text, key by key.
func typeInto(t *testing.T, p tab, css, text string) {
	t.Helper()
	p.click(t, css)
	for _, r := range text {
		p.press(t, string(r))
	}
}

// checkSignIn: on a signInSite, a
// signed-out tab gets the sign-in page and no camera name; a wrong password
// says so; bob signs in by typing into the form, sees his one camera, is
// refused the other's footage, and signing out ends the session.
func checkSignIn(t *testing.T, p tab, s *site) {
	p.navigate(t, s.base+"/?camera=cam")
	poll(t, p, 10*time.Second, "the sign-in page", `location.pathname === '/login' && !!document.querySelector('form.signin')`)
	if txt := eval[string](t, p, `document.body.innerText`); strings.Contains(txt, "Second camera") || strings.Contains(txt, "onerror") {
		t.Fatalf("the sign-in page shows camera names: %q", txt)
	}
	poll(t, p, 5*time.Second, "the API refusing a signed-out tab", `(async () => (await fetch('/api/cameras')).status === 401)()`)
	// The fields a password manager looks for.
	if c := eval[int](t, p, `document.querySelectorAll('input[autocomplete="username"][name="username"], input[autocomplete="current-password"][name="password"]').length`); c != 2 {
		t.Fatalf("sign-in form fields: %d", c)
	}
	signIn := func(password string) {
		typeInto(t, p, `input[name="username"]`, "bob")
		typeInto(t, p, `input[name="password"]`, password)
		p.click(t, `form.signin button[type="submit"]`)
	}
	signIn("wrong")
	poll(t, p, 10*time.Second, "the wrong-password message", `document.getElementById('message')?.hidden === false`)
	if q := eval[string](t, p, `location.search`); !strings.Contains(q, "error=failed") || !strings.Contains(q, "next=") {
		t.Fatalf("after a wrong password: %q", q)
	}
	signIn("bob-pass")
	poll(t, p, 10*time.Second, "the UI after sign-in", `location.pathname === '/' && document.querySelectorAll('#camera-list li').length > 0`)
	names := eval[[]string](t, p, `[...document.querySelectorAll('#camera-list .name')].map(e => e.textContent)`)
	if len(names) != 1 || names[0] != "Second camera" {
		t.Fatalf("bob sees cameras %q", names)
	}
	if u := eval[string](t, p, `document.getElementById('user').textContent`); u != "bob" {
		t.Fatalf("signed in as %q", u)
	}
	seg := s.segments(t, "cam")[0]
	q := "start=" + seg.Start.UTC().Format(time.RFC3339Nano) + "&end=" + seg.End.UTC().Format(time.RFC3339Nano)
	for _, path := range []string{"/api/cameras/cam", "/api/cameras/cam/timeline?" + q, "/api/cameras/cam/export?" + q} {
		poll(t, p, 5*time.Second, "403 for "+path, `(async () => (await fetch('`+path+`')).status === 403)()`)
	}
	poll(t, p, 5*time.Second, "bob's own camera", `(async () => (await fetch('/api/cameras/cam2/export?`+q+`', {method: 'HEAD'})).status === 200)()`)
	p.click(t, `#signout button`)
	poll(t, p, 10*time.Second, "the sign-in page after sign-out", `location.pathname === '/login'`)
	poll(t, p, 5*time.Second, "the session ended", `(async () => (await fetch('/api/cameras')).status === 401)()`)
	p.noErrors(t)
}
