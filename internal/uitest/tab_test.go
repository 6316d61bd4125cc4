package uitest

import "testing"

// tab is a browser tab a test drives: headless Chromium through the
// DevTools protocol (browser) or headless Firefox through WebDriver BiDi
// (firefox). The checks that both browsers run are written once against it. (Not "page": chromedp has a package of that name.).
type tab interface {
	// evaluate runs js in the page, awaiting a promise it returns, and
	// gives the value as JSON (nil for undefined or null). It is bounded by
	// stepTimeout.
	evaluate(js string) ([]byte, error)
	navigate(t *testing.T, url string)
	// press types one key, as a user would.
	press(t *testing.T, key string)
	// noErrors fails the test if the page logged an error, threw an
	// uncaught exception or opened a dialog.
	noErrors(t *testing.T)
}
