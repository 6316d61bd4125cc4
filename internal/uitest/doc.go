// Package uitest tests nvr's web UI in a real browser: Debian's chromium,
// headless, driven through the DevTools protocol by chromedp. Each test runs
// the built nvr binary recording the test camera, opens the UI as a person
// would and checks what is on screen against the index.
//
// Without chromium (or ffmpeg) the tests skip on a developer's machine and
// fail in CI. NVR_UI_SCREENSHOTS=DIR keeps the screenshots they take.
package uitest
