package uitest

import (
	"fmt"
	"strconv"
	"testing"
)

// tab is a browser tab a test drives: headless Chromium through the
// DevTools protocol (browser), headless Firefox through WebDriver BiDi
// (firefox) or WebKitGTK through classic WebDriver (webkit). The checks
// every browser runs are written once against it. (Not "page": chromedp
// has a package of that name.)
type tab interface {
	// evaluate runs js in the page, awaiting a promise it returns, and
	// gives the value as JSON (nil for undefined or null). It is bounded by
	// stepTimeout.
	evaluate(js string) ([]byte, error)
	navigate(t *testing.T, url string)
	// press types one key, as a user would.
	press(t *testing.T, key string)
	// click clicks the middle of the element css selects, as a mouse would.
	click(t *testing.T, css string)
	// noErrors fails the test if the page logged an error, threw an
	// uncaught exception or opened a dialog.
	noErrors(t *testing.T)
}

// clickAt is where a click on the element css selects lands, in the
// viewport's CSS pixels, after scrolling it into view.
func clickAt(t *testing.T, p tab, css string) (x, y int) {
	t.Helper()
	xy := eval[[]float64](t, p, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, strconv.Quote(css)))
	if len(xy) != 2 {
		t.Fatalf("the place of %s: %v", css, xy)
	}
	return int(xy[0]), int(xy[1])
}

// clickActions is a WebDriver action sequence (classic and BiDi alike)
// that clicks at x, y of the viewport.
func clickActions(x, y int) []any {
	return []any{map[string]any{"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
		"actions": []any{
			map[string]any{"type": "pointerMove", "x": x, "y": y, "origin": "viewport"},
			map[string]any{"type": "pointerDown", "button": 0},
			map[string]any{"type": "pointerUp", "button": 0},
		}}}
}
