package uitest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// A phone's screen in CSS pixels (a common 6.1" phone held upright).
const phoneW, phoneH = 390, 844

// touch sends one touch event; no points ends every touch.
func (b *browser) touch(t *testing.T, typ input.DispatchTouchEventType, pts ...[2]float64) {
	t.Helper()
	list := make([]*input.TouchPoint, 0, len(pts))
	for i, p := range pts {
		id := float64(i)
		list = append(list, &input.TouchPoint{X: p[0], Y: p[1], ID: &id})
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: list}); err != nil {
		t.Fatalf("touch %s: %v", typ, err)
	}
}

// box is an element's place on the page, in CSS pixels.
type box struct {
	Sel                      string
	Left, Right, Top, Bottom float64
	W, H                     float64
}

// TestPhone: on a phone-sized touch screen the page fits the width (no
// sideways scrolling), the picture, the controls and the timeline are all
// on the first screen, every control is big enough to tap (24 px, WCAG
// 2.2's minimum target), and the timeline works by touch: a tap plays the
// moment under the finger even if it wanders a few pixels, a pinch zooms
// about the moment between the fingers, and a one-finger drag pans
// without seeking.
func TestPhone(t *testing.T) {
	s := startSite(t, "")
	b := newBrowser(t)
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: phoneW, Height: phoneH, DeviceScaleFactor: 3, Mobile: true})
	if err == nil {
		_, err = chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5})
	}
	cancel()
	if err != nil {
		t.Fatalf("emulating a phone: %v", err)
	}

	segs := s.segments(t, "cam")
	at := segs[1].Start.Add(370 * time.Millisecond)
	b.navigate(t, s.base+"/?camera=cam&t="+at.UTC().Format(time.RFC3339Nano))
	b.poll(t, 15*time.Second, "a frame of the deep link", `!!nvr.state.lastSeek && nvr.state.lastSeek.frame != null`)
	b.eval0(t, `nvr.setPlaying(false)`)

	t.Run("layout", func(t *testing.T) {
		width := eval[float64](t, b, `window.innerWidth`)
		if width != phoneW {
			t.Fatalf("the page is %v px wide on a %d px screen (the viewport meta tag?)", width, phoneW)
		}
		if sw := eval[float64](t, b, `document.documentElement.scrollWidth`); sw > width {
			t.Fatalf("the page is %v px wide on a %v px screen: it scrolls sideways", sw, width)
		}
		boxes := eval[[]box](t, b, `[...document.querySelectorAll('.tile, #timeline, button, select, input, #camera-list li')]
			.filter(e => e.offsetParent !== null && !e.closest('[hidden]'))
			.map(e => { const r = (e.type === 'checkbox' && e.closest('label') || e).getBoundingClientRect(); // a checkbox's label takes the tap
				return { Sel: e.id ? '#' + e.id : e.className || e.tagName, Left: r.left, Right: r.right, Top: r.top + scrollY, Bottom: r.bottom + scrollY, W: r.width, H: r.height }; })`)
		seen := map[string]box{}
		for _, x := range boxes {
			seen[x.Sel] = x
			if x.Left < 0 || x.Right > width+0.5 {
				t.Errorf("%s reaches from x=%.0f to %.0f, outside the %v px screen", x.Sel, x.Left, x.Right, width)
			}
			if x.H < 24 || x.W < 24 {
				t.Errorf("%s is %.0fx%.0f px: too small to tap", x.Sel, x.W, x.H)
			}
		}
		for _, sel := range []string{"tile", "#timeline", "#play", "#step-fwd", "#live"} {
			x, ok := seen[sel]
			if !ok {
				t.Fatalf("no %s on the page (seen: %v)", sel, boxes)
			}
			if x.Bottom > phoneH {
				t.Errorf("%s ends at y=%.0f, below the first screen (%d px)", sel, x.Bottom, phoneH)
			}
		}
		if tile := seen["tile"]; tile.W < 0.9*width {
			t.Errorf("the picture is %.0f px wide on a %v px screen", tile.W, width)
		}
		b.screenshot(t, "ui-phone.png")
	})

	// The timeline's place, and the time at a point of it.
	tl := eval[box](t, b, `(() => { const r = document.getElementById('timeline').getBoundingClientRect();
		return { Sel: 'timeline', Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom, W: r.width, H: r.height }; })()`)
	y := tl.Top + tl.H/2
	type view struct{ Start, End float64 }
	viewNow := func() view { return eval[view](t, b, `({ Start: nvr.state.view.start, End: nvr.state.view.end })`) }
	timeAt := func(v view, x float64) float64 { return v.Start + (x-tl.Left)/tl.W*(v.End-v.Start) }
	lastSeek := func() float64 { return eval[float64](t, b, `nvr.state.lastSeek.target`) }

	t.Run("pinch zooms about the moment between the fingers", func(t *testing.T) {
		seek0 := lastSeek()
		for range 2 {
			v0 := viewNow()
			mid := tl.Left + tl.W/2
			b.touch(t, input.DispatchTouchEventTypeTouchStart, [2]float64{mid - 0.1*tl.W, y}, [2]float64{mid + 0.1*tl.W, y})
			for _, k := range []float64{0.2, 0.3, 0.4} {
				b.touch(t, input.DispatchTouchEventTypeTouchMove, [2]float64{mid - k*tl.W, y}, [2]float64{mid + k*tl.W, y})
			}
			b.touch(t, input.DispatchTouchEventTypeTouchEnd)
			v1 := viewNow()
			// The fingers went from 0.2 to 0.8 of the width apart: a
			// quarter of the time, the middle moment kept.
			span0, span1 := v0.End-v0.Start, v1.End-v1.Start
			if math.Abs(span1/span0-0.25) > 0.01 {
				t.Fatalf("pinch: the timeline spans %.0f s, from %.0f s", span1/1000, span0/1000)
			}
			if d := math.Abs(timeAt(v1, mid) - timeAt(v0, mid)); d > span1/tl.W {
				t.Fatalf("pinch: the moment between the fingers moved %.0f ms", d)
			}
		}
		if got := lastSeek(); got != seek0 {
			t.Fatalf("a pinch seeked, to %v", got)
		}
	})

	t.Run("a tap plays the moment under the finger", func(t *testing.T) {
		v, seek0 := viewNow(), lastSeek()
		want := float64(at.Add(time.Second).UnixMilli())
		x := tl.Left + (want-v.Start)/(v.End-v.Start)*tl.W
		if x < tl.Left || x > tl.Right {
			t.Fatalf("the moment to tap is off the timeline (view %v)", v)
		}
		// A finger wanders a little between touching and lifting.
		b.touch(t, input.DispatchTouchEventTypeTouchStart, [2]float64{x, y})
		b.touch(t, input.DispatchTouchEventTypeTouchMove, [2]float64{x + 5, y})
		b.touch(t, input.DispatchTouchEventTypeTouchEnd)
		b.poll(t, 5*time.Second, "a seek", fmt.Sprintf(`nvr.state.lastSeek.target !== %v`, seek0))
		// Where the finger touched, within two pixels' worth of time.
		if got, tol := lastSeek(), 2*(v.End-v.Start)/tl.W; math.Abs(got-want) > tol {
			t.Fatalf("tapped %.0f ms, seeked %.0f ms (%.0f ms off)", want, got, got-want)
		}
		b.poll(t, 15*time.Second, "the tapped moment's frame", `nvr.state.lastSeek.frame != null`)
		if v1 := viewNow(); v1 != v {
			t.Fatalf("a tap moved the timeline from %v to %v", v, v1)
		}
	})

	t.Run("a drag pans without seeking", func(t *testing.T) {
		v0, seek0 := viewNow(), lastSeek()
		x0 := tl.Left + 0.6*tl.W
		b.touch(t, input.DispatchTouchEventTypeTouchStart, [2]float64{x0, y})
		for _, dx := range []float64{0.05, 0.1, 0.2} {
			b.touch(t, input.DispatchTouchEventTypeTouchMove, [2]float64{x0 - dx*tl.W, y})
		}
		b.touch(t, input.DispatchTouchEventTypeTouchEnd)
		v1 := viewNow()
		span := v0.End - v0.Start
		if d := (v1.Start - v0.Start) / span; math.Abs(d-0.2) > 0.01 || v1.End-v1.Start != span {
			t.Fatalf("dragging a fifth of the width left moved the view by %.3f of its span (and it spans %.0f ms, from %.0f)", d, v1.End-v1.Start, span)
		}
		if got := lastSeek(); got != seek0 {
			t.Fatalf("a drag seeked, to %v", got)
		}
	})
	b.noErrors(t)
}
