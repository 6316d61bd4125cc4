package uitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// webkit is a WebKitGTK tab (MiniBrowser) driven by WebKitWebDriver over
// classic W3C WebDriver (HTTP). WebKit is the engine Safari is built on:
// its JavaScript engine, layout and Media Source Extensions front end are
// Safari's, though on Linux the media underneath is GStreamer, not
// AVFoundation, so it stands in for Safari's page logic, not for Safari's
// decoders. WebKitGTK has no headless mode: it draws into an X display,
// Xvfb's when none is set.
type webkit struct {
	base   string // http://127.0.0.1:port/session/id
	client *http.Client

	mu     sync.Mutex
	errors []string // errors of pages navigated away from
}

// webkitErrorHook collects what the page reports as errors, since classic
// WebDriver has no log events. It is installed after each navigation, so it
// does not see errors of the page's first script run; window.onerror
// chains to whatever the page set.
const webkitErrorHook = `if (!window.__nvrErrors) {
	window.__nvrErrors = [];
	window.addEventListener('error', (e) => window.__nvrErrors.push('error: ' + (e.message || e.type)));
	window.addEventListener('unhandledrejection', (e) => window.__nvrErrors.push('unhandled rejection: ' + String(e.reason)));
	const ce = console.error.bind(console);
	console.error = (...a) => { window.__nvrErrors.push('console.error: ' + a.map(String).join(' ')); ce(...a); };
}`

func newWebKit(t *testing.T) *webkit {
	t.Helper()
	driver := need(t, "WebKitWebDriver")
	browsers, _ := filepath.Glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser")
	if len(browsers) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("required in CI: WebKitGTK's MiniBrowser (Debian's webkit2gtk-driver)")
		}
		t.Skip("not installed: WebKitGTK's MiniBrowser")
	}
	env := os.Environ()
	if os.Getenv("DISPLAY") == "" {
		env = append(env, "DISPLAY="+startXvfb(t))
	}
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(driver, "--host=127.0.0.1", "--port="+port)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting WebKitWebDriver: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	w := &webkit{client: &http.Client{Timeout: stepTimeout + 10*time.Second}}
	root := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := w.client.Get(root + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebKitWebDriver did not answer within 30 s: %v", err)
		}
		select {
		case <-exited:
			t.Fatal("WebKitWebDriver exited before it answered")
		case <-time.After(100 * time.Millisecond):
		}
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": browsers[0], "args": []string{"--automation"}},
		"timeouts":                 map[string]any{"script": stepTimeout.Milliseconds(), "pageLoad": stepTimeout.Milliseconds()},
		"unhandledPromptBehavior":  "dismiss and notify",
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	raw, err := w.do(http.MethodPost, root+"/session", caps)
	if err == nil {
		err = json.Unmarshal(raw, &sess)
	}
	if err != nil || sess.SessionID == "" {
		t.Fatalf("starting a WebKit session: %v", err)
	}
	w.base = root + "/session/" + sess.SessionID
	t.Cleanup(func() { _, _ = w.do(http.MethodDelete, w.base, nil) })
	if _, err := w.do(http.MethodPost, w.base+"/window/rect", map[string]any{"width": 1280, "height": 900}); err != nil {
		t.Logf("resizing the WebKit window: %v", err)
	}
	return w
}

// startXvfb starts a virtual X display for the test and returns its name.
func startXvfb(t *testing.T) string {
	t.Helper()
	xvfb := need(t, "Xvfb")
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// -displayfd: Xvfb picks a free display and writes its number to fd 3.
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x900x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{wr}
	if err := cmd.Start(); err != nil {
		wr.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	wr.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(r, 64)).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			t.Fatalf("Xvfb gave no display number (%q)", n)
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb gave no display within 30 s")
	}
	return ""
}

// do sends one WebDriver command and returns its "value".
func (w *webkit) do(method, url string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20)) // evaluated pictures are large
	if err != nil {
		return nil, err
	}
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("WebDriver answered %s: %.200s", resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		_ = json.Unmarshal(out.Value, &e)
		if e.Error == "unexpected alert open" {
			w.mu.Lock()
			w.errors = append(w.errors, "dialog opened: "+e.Message)
			w.mu.Unlock()
		}
		return nil, fmt.Errorf("WebDriver: %s: %s", e.Error, e.Message)
	}
	return out.Value, nil
}

func (w *webkit) call(t *testing.T, method, path string, body any) json.RawMessage {
	t.Helper()
	v, err := w.do(method, w.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *webkit) navigate(t *testing.T, url string) {
	t.Helper()
	w.keepErrors()
	w.call(t, http.MethodPost, "/url", map[string]any{"url": url})
	w.call(t, http.MethodPost, "/execute/sync", map[string]any{"script": webkitErrorHook, "args": []any{}})
}

// keepErrors moves the current page's errors into w before it is left.
func (w *webkit) keepErrors() {
	v, err := w.do(http.MethodPost, w.base+"/execute/sync", map[string]any{"script": `return window.__nvrErrors || []`, "args": []any{}})
	var errs []string
	if err == nil && json.Unmarshal(v, &errs) == nil && len(errs) > 0 {
		w.mu.Lock()
		w.errors = append(w.errors, errs...)
		w.mu.Unlock()
	}
}

func (w *webkit) press(t *testing.T, key string) {
	t.Helper()
	w.call(t, http.MethodPost, "/actions", map[string]any{"actions": []any{
		map[string]any{"type": "key", "id": "keyboard", "actions": []any{
			map[string]any{"type": "keyDown", "value": key},
			map[string]any{"type": "keyUp", "value": key},
		}},
	}})
	w.call(t, http.MethodDelete, "/actions", nil)
}

func (w *webkit) click(t *testing.T, css string) {
	t.Helper()
	x, y := clickAt(t, w, css)
	w.call(t, http.MethodPost, "/actions", map[string]any{"actions": clickActions(x, y)})
	w.call(t, http.MethodDelete, "/actions", nil)
}

// evaluate runs js and hands back the JSON of its value, awaiting a
// promise it gives. The page's Content Security Policy forbids eval, so js
// is compiled by WebDriver as part of its script: as an expression first,
// and when that does not parse, as statements (whose value is then
// undefined, as the tests' statement scripts expect).
func (w *webkit) evaluate(js string) ([]byte, error) {
	v, err := w.run("(\n" + js + "\n)")
	if err != nil && strings.Contains(err.Error(), "SyntaxError") {
		v, err = w.run("{\n" + js + "\n}")
	}
	if err != nil {
		return nil, err
	}
	var res struct {
		JSON  *string `json:"json"`
		Error string  `json:"error"`
	}
	if err := json.Unmarshal(v, &res); err != nil {
		return nil, err
	}
	if res.Error != "" {
		return nil, errors.New(res.Error)
	}
	if res.JSON == nil || *res.JSON == "null" {
		return nil, nil
	}
	return []byte(*res.JSON), nil
}

// run executes body (a parenthesised expression or a block) as the body of
// an arrow function and reports its outcome.
func (w *webkit) run(body string) (json.RawMessage, error) {
	script := `const done = arguments[arguments.length - 1];
		Promise.resolve().then(() => ` + body + `).then(
			(v) => done({ json: JSON.stringify(v === undefined ? null : v) }),
			(e) => done({ error: String(e && e.stack ? e + '\n' + e.stack : e) }));`
	return w.do(http.MethodPost, w.base+"/execute/async", map[string]any{"script": script, "args": []any{}})
}

func (w *webkit) noErrors(t *testing.T) {
	t.Helper()
	w.keepErrors()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errors) > 0 {
		t.Fatalf("the page reported errors:\n%s", strings.Join(w.errors, "\n"))
	}
}

// TestWebKit runs the checks of playback and live view that TestUI runs in
// Chromium and TestFirefox in Firefox in WebKitGTK, Safari's engine: the
// frame the index holds on screen, frame stepping by key, playing across
// segments, two cameras in sync, live tiles.
func TestWebKit(t *testing.T) {
	need(t, "ffmpeg")
	s := startSite(t, "")
	w := newWebKit(t)
	w.navigate(t, s.base+"/")
	// WebKitGTK decodes through GStreamer: without its H.264 decoder
	// (gstreamer1.0-libav) there is nothing to play, which CI must not
	// take for a pass.
	if !eval[bool](t, w, `!!window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"')`) {
		if os.Getenv("CI") != "" {
			t.Fatal("this WebKit cannot play H.264 in MSE (is gstreamer1.0-libav installed?)")
		}
		t.Skip("this WebKit cannot play H.264 in MSE")
	}
	runChecks(t, w, s, 2)
}

// TestWebKitSignIn runs checkSignIn in WebKitGTK.
func TestWebKitSignIn(t *testing.T) {
	s := signInSite(t)
	checkSignIn(t, newWebKit(t), s)
}
