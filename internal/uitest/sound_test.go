package uitest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/nvr-project/nvr/internal/testcam"
)

// soundCamera is a camera of the site's sound test camera (%SOUND%:
// the numbered clip with testcam's G.711 beep on every frame 0).
const soundCamera = "  - id: loud\n    name: Loud camera\n    url: '%SOUND%'\n"

// soundProbe installs window.probe in the page: every <video> of the
// tiles feeds one Web Audio AnalyserNode (createMediaElementSource, so
// what is measured is exactly what the page would play: a muted element
// gives silence). Every 5 ms it takes the peak of the last 512 samples
// (about 11 ms) and keeps the loudest since the last take(); at a beep's
// onset (loud after quiet, the quiet look at most 30 ms before) it reads
// the frame number on the tile's screen, so the beep's time is compared
// with the picture's (testcam beeps from frame 0).
const soundProbe = `(() => {
	if (window.probe) return true;
	const ctx = new AudioContext();
	const an = ctx.createAnalyser();
	an.fftSize = 512;
	an.connect(ctx.destination);
	const buf = new Float32Array(an.fftSize), hooked = new WeakSet();
	const c = document.createElement('canvas'), g = c.getContext('2d', { willReadFrequently: true });
	const probe = window.probe = { ctx, max: 0, onsets: [], loud: false, last: 0, id: null };
	const frameNumber = (v) => {
		c.width = v.videoWidth; c.height = v.videoHeight;
		if (!c.width) return -1;
		g.drawImage(v, 0, 0);
		let n = 0;
		for (let bit = 0; bit < ` + "%d" + `; bit++) {
			const px = g.getImageData(bit * ` + "%d" + ` + ` + "%d" + `, ` + "%d" + `, 1, 1).data;
			if (px[0] >= 128) n |= 1 << bit;
		}
		return n;
	};
	setInterval(() => {
		for (const p of nvr.players.values()) for (const v of p.tile.querySelectorAll('video')) {
			if (!hooked.has(v)) { hooked.add(v); ctx.createMediaElementSource(v).connect(an); }
		}
		an.getFloatTimeDomainData(buf);
		let peak = 0;
		for (const x of buf) peak = Math.max(peak, Math.abs(x));
		probe.max = Math.max(probe.max, peak);
		const now = performance.now(), loud = peak > 0.1;
		if (loud && !probe.loud && now - probe.last < 30 && probe.id) {
			probe.onsets.push(frameNumber(nvr.players.get(probe.id).video));
		}
		probe.loud = loud;
		probe.last = now;
	}, 5);
	return ctx.state === 'running' || ctx.resume().then(() => ctx.state === 'running');
})()`

// probeJS is soundProbe with the numbered clip's layout filled in.
var probeJS = fmt.Sprintf(soundProbe, testcam.NumberedBits, testcam.NumberedBlock, testcam.NumberedBlock/2, testcam.NumberedBlockHeight/2)

// How much checkSound measures: the controls only, or also the sound's
// level and its sync with the picture.
type soundMeasure int

const (
	// soundControls: the buttons and the elements' muted state, no
	// Web Audio (headless Firefox without pulseaudio: docs/ui.md).
	soundControls soundMeasure = iota
	// soundInSync: also silence while muted, the beeps when not, and
	// each beep's onset with frame 0 on screen.
	soundInSync
)

// checkSound: the sound camera's tile (id loud, beside cam, which has no
// sound) shows a speaker button, cam's none; the tile starts muted and is
// silent through two beeps; Space on the focused button unmutes it and
// the beeps are heard, each starting within 2 frames of frame 0 on screen;
// the choice holds across what replaces the tile's media (then): in
// playback 4 s export windows handed over, live a restart of nvr;
// unmuting another tile (setAudible on cam, which has no sound) or a second
// press mutes it again. at is the moment to play, or zero for live.
// measure says how much of it is measured.
func checkSound(t *testing.T, p tab, s *site, at time.Time, measure soundMeasure) {
	t.Helper()
	webAudio := measure == soundInSync
	query := ""
	if !at.IsZero() {
		query = "&t=" + at.UTC().Format(time.RFC3339Nano)
	}
	p.navigate(t, s.base+"/?camera=loud&camera=cam"+query)
	tile := `nvr.players.get('loud')`
	poll(t, p, 20*time.Second, "the sound tile playing with its speaker button",
		`!!(window.nvr && `+tile+`) && `+tile+`.video.currentTime > 0.5 && !`+tile+`.sound.hidden`)
	if !at.IsZero() {
		// Windows of 4 s instead of an hour: the sound must survive
		// each hand-over to the next window's <video>.
		run(t, p, `(async () => { nvr.state.window = 4000; nvr.state.handovers = 0; nvr.players.forEach((p) => { p.pieces = []; });
			nvr.setPlaying(true); await nvr.seek(`+strconv.FormatInt(at.UnixMilli(), 10)+`); })()`)
		poll(t, p, 20*time.Second, "playing 4 s windows", tile+`.pieces.length > 0 && `+tile+`.windowEnd - `+tile+`.pieces[0].wall <= 5100 && `+tile+`.video.currentTime > 0.3`)
	}
	if eval[bool](t, p, `!nvr.players.get('cam').sound.hidden`) {
		t.Fatal("the tile of a camera without sound shows a speaker button")
	}
	if got := eval[[]string](t, p, `[`+tile+`.sound.getAttribute('aria-pressed'), `+tile+`.sound.getAttribute('aria-label'), String(`+tile+`.video.muted)]`); got[0] != "false" || got[1] != "Sound: Loud camera" || got[2] != "true" {
		t.Fatalf("before any click: aria-pressed, aria-label, muted = %q; want false, \"Sound: Loud camera\", true", got)
	}
	if webAudio {
		if !eval[bool](t, p, probeJS) {
			t.Fatal("the AudioContext does not run")
		}
		run(t, p, `probe.id = 'loud'`)
		// Muted: nothing through two beeps (4 s apart), 9 s of picture.
		mediaWait(t, p, tile, 9)
		if peak := eval[float64](t, p, `probe.max`); peak > 0.01 {
			t.Fatalf("muted tile: peak level %.3f, want silence", peak)
		}
		run(t, p, `probe.max = 0; probe.onsets = []`)
	}
	// Space on the focused button, as a keyboard user would.
	run(t, p, tile+`.sound.focus()`)
	p.press(t, " ")
	poll(t, p, 5*time.Second, "the tile unmuted", tile+`.sound.getAttribute('aria-pressed') === 'true' && !`+tile+`.video.muted && nvr.state.audible === 'loud'`)
	if !webAudio {
		mediaWait(t, p, tile, 9)
		if !eval[bool](t, p, `!`+tile+`.video.muted && [...document.querySelectorAll('video')].filter((v) => !v.muted).length === 1`) {
			t.Fatal("after 9 s of picture the tile is muted again, or more than one <video> is unmuted")
		}
	}
	if !webAudio {
		checkSoundChoice(t, p, s, at, tile, false)
		return
	}
	poll(t, p, 60*time.Second, "three beeps heard", `probe.onsets.length >= 3`)
	if peak := eval[float64](t, p, `probe.max`); peak < 0.2 {
		t.Fatalf("unmuted tile: peak level %.3f, want the beep (0.5)", peak)
	}
	onsets := eval[[]int](t, p, `probe.onsets`)
	t.Logf("frame numbers on screen at the beeps' onsets: %v", onsets)
	// A beep starts with frame 0; the look that hears it may come up to
	// 11 ms (its window) plus 5 ms (its period) later. The median is
	// within 2 frames; one beep may be 4 off, as on a machine loaded
	// with the race detector the picture can lag the sound by 3 frames
	// (seen once in playback: 0, 99, 97).
	var ds []int
	for _, n := range onsets {
		d := (n+50)%100 - 50
		ds = append(ds, d)
		if d < -4 || d > 4 {
			t.Errorf("a beep started with frame %d on screen, want frame 0 within 4 frames (%v)", n, onsets)
		}
	}
	slices.Sort(ds)
	if m := ds[len(ds)/2]; m < -2 || m > 2 {
		t.Errorf("beeps started with frames %v on screen: the median is %d frames from frame 0, want within 2", onsets, m)
	}
	checkSoundChoice(t, p, s, at, tile, true)
}

// checkSoundChoice is the rest of checkSound: the choice survives window
// hand-overs or a reconnect, and one tile is audible at a time.
func checkSoundChoice(t *testing.T, p tab, s *site, at time.Time, tile string, webAudio bool) {
	t.Helper()
	if !at.IsZero() {
		if n := eval[float64](t, p, `nvr.state.handovers`); n < 2 {
			t.Fatalf("%.0f window hand-overs while the beeps were heard, want at least 2", n)
		}
	} else {
		// nvr restarts: the tile reconnects and is still the audible one.
		run(t, p, `window.genBefore = `+tile+`.liveGen`)
		s.restart(t)
		poll(t, p, 30*time.Second, "the live tile reconnected", tile+`.liveGen > window.genBefore && `+tile+`.video.currentTime > 0.5 && `+tile+`.liveAudio`)
		if webAudio {
			run(t, p, `probe.onsets = []`)
			poll(t, p, 60*time.Second, "a beep heard after the reconnect", `probe.onsets.length >= 1`)
		}
		if muted := eval[bool](t, p, tile+`.video.muted`); muted {
			t.Fatal("the tile is muted after the reconnect")
		}
	}
	// One tile audible at a time: choosing another mutes this one.
	run(t, p, `nvr.setAudible('cam')`)
	poll(t, p, 5*time.Second, "the tile muted by another's choice", tile+`.video.muted && `+tile+`.sound.getAttribute('aria-pressed') === 'false'`)
	run(t, p, `nvr.setAudible('loud')`)
	poll(t, p, 5*time.Second, "the tile unmuted again", `!`+tile+`.video.muted`)
	run(t, p, tile+`.sound.focus()`)
	p.press(t, " ")
	poll(t, p, 5*time.Second, "a second press muting it", tile+`.video.muted && nvr.state.audible === null`)
	p.noErrors(t)
}

// run evaluates js in p for its effect.
func run(t *testing.T, p tab, js string) {
	t.Helper()
	_ = eval[any](t, p, js)
}

// mediaWait waits until the tile's picture has moved on by sec seconds
// of footage (its frames' wall times, in playback and live alike), so a
// slow machine waits longer, never less.
func mediaWait(t *testing.T, p tab, tile string, sec float64) {
	t.Helper()
	poll(t, p, 10*time.Second, "a frame's time", tile+`.frameWall != null`)
	run(t, p, `window.wallStart = `+tile+`.frameWall`)
	poll(t, p, time.Duration(sec*4+30)*time.Second, strconv.FormatFloat(sec, 'f', 0, 64)+" s of picture",
		tile+`.frameWall - window.wallStart >= `+strconv.FormatFloat(sec*1000, 'f', 0, 64))
}

// TestSound: in Chromium, the sound camera's tile plays its beeps when
// unmuted and is silent when muted, in playback and live.
func TestSound(t *testing.T) {
	s := startSite(t, "", soundCamera)
	s.waitFor(t, 30*time.Second, "three complete segments of the sound camera", func() bool { return len(s.segments(t, "loud")) >= 3 })
	b := newBrowser(t)
	at := s.segments(t, "loud")[0].Start.Add(300 * time.Millisecond)
	t.Run("playback", func(t *testing.T) { checkSound(t, b, s, at, soundInSync) })
	t.Run("live", func(t *testing.T) { checkSound(t, b, s, time.Time{}, soundInSync) })
	t.Run("live in a browser without the sound's codec", func(t *testing.T) {
		// As an open-source Chromium without AAC: MSE refuses the
		// codec string with the sound (here FLAC), not the picture's.
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		defer cancel()
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `{
			const o = MediaSource.isTypeSupported.bind(MediaSource);
			MediaSource.isTypeSupported = (m) => !m.includes('flac') && o(m); }`}); err != nil {
			t.Fatal(err)
		}
		b.navigate(t, s.base+"/?camera=loud")
		tile := `nvr.players.get('loud')`
		b.poll(t, 20*time.Second, "the picture playing alone, the tile saying why there is no sound",
			`!!(window.nvr && `+tile+` && `+tile+`.noSound && `+tile+`.tracks === 1 && `+tile+`.video.currentTime > 0.5 && `+tile+`.sound.hidden &&
				!`+tile+`.note.hidden && `+tile+`.note.textContent === 'sound not playable in this browser' && `+tile+`.overlay.hidden)`)
		b.liveAdvances(t, "loud")
		b.noErrors(t)
	})
}
