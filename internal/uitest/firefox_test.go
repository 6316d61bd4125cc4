package uitest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// firefox is a headless Firefox tab driven through WebDriver BiDi, the W3C
// protocol Firefox serves on --remote-debugging-port (chromedp speaks only
// Chrome's). Only the few commands the tests use are here: navigate,
// evaluate, key presses, and the log and prompt events.
type firefox struct {
	conn    *websocket.Conn
	context string // the tab's browsing context id

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan bidiReply
	errors  []string
	closed  error // why the connection ended

	// sound: Firefox has a sound output (a private PulseAudio null
	// sink, startPulse), so Web Audio runs and sound can be measured.
	sound bool
}

type bidiReply struct {
	Type    string          `json:"type"` // success, error or event
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// firefoxPrefs let video play without a user gesture (as Chromium's
// autoplay flag does in newBrowser) and keep Firefox from calling home on a
// machine with no outside network.
const firefoxPrefs = `user_pref("media.autoplay.default", 0);
user_pref("media.autoplay.blocking_policy", 0);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.connectivity-service.enabled", false);
`

func newFirefox(t *testing.T) *firefox {
	t.Helper()
	path := need(t, "firefox-esr", "firefox")
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port=0", "--width=1280", "--height=900", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	pulse := startPulse(t)
	if pulse != "" {
		cmd.Env = append(cmd.Env, "PULSE_SERVER="+pulse)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting firefox: %v", err)
	}
	exited := make(chan struct{})
	found := make(chan string, 1)
	// Firefox says where it listens on stderr; the rest of its chatter
	// is drained so it never blocks on a full pipe.
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "WebDriver BiDi listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	var wsURL string
	select {
	case wsURL = <-found:
	case <-exited:
		t.Fatal("firefox exited before it listened for WebDriver BiDi")
	case <-time.After(60 * time.Second):
		t.Fatal("firefox did not listen for WebDriver BiDi within 60 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL+"/session", nil)
	if err != nil {
		t.Fatalf("connecting to firefox at %s: %v", wsURL, err)
	}
	conn.SetReadLimit(64 << 20) // evaluated pictures are large
	f := &firefox{conn: conn, waiting: map[int]chan bidiReply{}, sound: pulse != ""}
	readDone := make(chan struct{})
	go f.read(readDone)
	t.Cleanup(func() {
		_ = conn.Close(websocket.StatusNormalClosure, "")
		<-readDone
	})
	f.call(t, "session.new", map[string]any{"capabilities": map[string]any{}})
	f.call(t, "session.subscribe", map[string]any{"events": []string{"log.entryAdded", "browsingContext.userPromptOpened"}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(f.call(t, "browsingContext.getTree", map[string]any{}), &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("firefox has no tab: %v", err)
	}
	f.context = tree.Contexts[0].Context
	return f
}

// read hands replies to their callers and records errors the page logs.
func (f *firefox) read(done chan struct{}) {
	defer close(done)
	for {
		_, msg, err := f.conn.Read(context.Background())
		if err != nil {
			f.mu.Lock()
			f.closed = err
			for id, ch := range f.waiting {
				close(ch)
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			return
		}
		var r bidiReply
		if json.Unmarshal(msg, &r) != nil {
			continue
		}
		if r.Type == "event" {
			f.event(r)
			continue
		}
		if r.ID == nil {
			continue
		}
		f.mu.Lock()
		ch := f.waiting[*r.ID]
		delete(f.waiting, *r.ID)
		f.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

func (f *firefox) event(r bidiReply) {
	switch r.Method {
	case "log.entryAdded":
		var e struct {
			Level, Text, Type string
		}
		if json.Unmarshal(r.Params, &e) == nil && e.Level == "error" {
			f.mu.Lock()
			f.errors = append(f.errors, e.Type+": "+e.Text)
			f.mu.Unlock()
		}
	case "browsingContext.userPromptOpened":
		var e struct{ Context, Message string }
		_ = json.Unmarshal(r.Params, &e)
		f.mu.Lock()
		f.errors = append(f.errors, "dialog opened: "+e.Message)
		f.mu.Unlock()
		// A prompt blocks the page; dismiss it (it is recorded). Not
		// awaited: this runs on the reading goroutine.
		go func() {
			_, _ = f.send("browsingContext.handleUserPrompt", map[string]any{"context": e.Context, "accept": false})
		}()
	}
}

// send issues one command and waits, bounded by stepTimeout, for its result.
func (f *firefox) send(method string, params any) (json.RawMessage, error) {
	ch := make(chan bidiReply, 1)
	f.mu.Lock()
	if f.closed != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("firefox connection closed: %w", f.closed)
	}
	f.nextID++
	id := f.nextID
	f.waiting[id] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiting, id)
		f.mu.Unlock()
	}()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := f.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: firefox connection closed", method)
		}
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no answer within %s", method, stepTimeout)
	}
}

func (f *firefox) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	r, err := f.send(method, params)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *firefox) navigate(t *testing.T, url string) {
	t.Helper()
	f.call(t, "browsingContext.navigate", map[string]any{"context": f.context, "url": url, "wait": "complete"})
}

func (f *firefox) press(t *testing.T, key string) {
	t.Helper()
	f.call(t, "input.performActions", map[string]any{"context": f.context, "actions": []any{
		map[string]any{"type": "key", "id": "keyboard", "actions": []any{
			map[string]any{"type": "keyDown", "value": key},
			map[string]any{"type": "keyUp", "value": key},
		}},
	}})
}

func (f *firefox) click(t *testing.T, css string) {
	t.Helper()
	x, y := clickAt(t, f, css)
	f.call(t, "input.performActions", map[string]any{"context": f.context, "actions": clickActions(x, y)})
}

func (f *firefox) evaluate(js string) ([]byte, error) {
	// script.evaluate takes an expression; a script of statements (as
	// Chromium's Runtime.evaluate takes) is run by the page's own eval so
	// both browsers accept the same text.
	r, err := f.send("script.evaluate", map[string]any{
		"expression":           "window.eval(" + strconv.Quote(js) + ")",
		"target":               map[string]any{"context": f.context},
		"awaitPromise":         true,
		"resultOwnership":      "none",
		"serializationOptions": map[string]any{"maxObjectDepth": 16},
	})
	if err != nil {
		return nil, err
	}
	var res struct {
		Type             string          `json:"type"`
		Result           json.RawMessage `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(r, &res); err != nil {
		return nil, err
	}
	if res.Type == "exception" {
		text := "exception"
		if res.ExceptionDetails != nil {
			text = res.ExceptionDetails.Text
		}
		return nil, errors.New(text)
	}
	v, err := bidiValue(res.Result)
	if err != nil || v == nil {
		return nil, err
	}
	return json.Marshal(v)
}

// bidiValue turns a BiDi RemoteValue ({"type": "number", "value": 1}, arrays
// and objects nested the same way) into the plain value JSON would give.
func bidiValue(raw json.RawMessage) (any, error) {
	var rv struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &rv); err != nil {
		return nil, err
	}
	switch rv.Type {
	case "undefined", "null":
		return nil, nil
	case "string", "boolean":
		var v any
		return v, json.Unmarshal(rv.Value, &v)
	case "number":
		var v any
		if err := json.Unmarshal(rv.Value, &v); err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok { // NaN, -0, Infinity, -Infinity
			switch s {
			case "-0":
				return 0.0, nil
			case "Infinity":
				return math.MaxFloat64, nil
			case "-Infinity":
				return -math.MaxFloat64, nil
			}
			return nil, nil // NaN: JSON.stringify makes it null too
		}
		return v, nil
	case "array", "set":
		var items []json.RawMessage
		if err := json.Unmarshal(rv.Value, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := bidiValue(it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case "object", "map":
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(rv.Value, &pairs); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(pairs))
		for _, p := range pairs {
			var key string
			if json.Unmarshal(p[0], &key) != nil {
				k, err := bidiValue(p[0])
				if err != nil {
					return nil, err
				}
				key = fmt.Sprint(k)
			}
			v, err := bidiValue(p[1])
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s value cannot be read as JSON", rv.Type)
}

func (f *firefox) noErrors(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errors) > 0 {
		t.Fatalf("the page reported errors:\n%s", strings.Join(f.errors, "\n"))
	}
}

// TestFirefox runs the checks of playback and live view that TestUI runs in
// Chromium in headless Firefox: the frame the index holds on screen, frame
// stepping by key, playing across segments, two cameras in sync, live tiles.
func TestFirefox(t *testing.T) {
	need(t, "ffmpeg")
	s := startSite(t, "", soundCamera)
	f := newFirefox(t)
	f.navigate(t, s.base+"/")
	// Firefox on Linux decodes H.264 with the system's libavcodec: without
	// it there is nothing to play, which CI must not take for a pass.
	if !eval[bool](t, f, `MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"')`) {
		if os.Getenv("CI") != "" {
			t.Fatal("this firefox cannot play H.264 (is libavcodec installed?)")
		}
		t.Skip("this firefox cannot play H.264")
	}
	runChecks(t, f, s, 3)
	s.waitFor(t, 30*time.Second, "three complete segments of the sound camera", func() bool { return len(s.segments(t, "loud")) >= 3 })
	// With a sound output Firefox's sound is measured, its level and its
	// sync with the picture.
	measure := soundControls
	if f.sound {
		measure = soundInSync
	}
	t.Run("sound in playback", func(t *testing.T) {
		checkSound(t, f, s, s.segments(t, "loud")[0].Start.Add(300*time.Millisecond), measure)
	})
	t.Run("sound live", func(t *testing.T) { checkSound(t, f, s, time.Time{}, measure) })
}

// TestFirefoxSignIn runs checkSignIn in Firefox.
func TestFirefoxSignIn(t *testing.T) {
	s := signInSite(t)
	checkSignIn(t, newFirefox(t), s)
}
