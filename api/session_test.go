package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/clock"
	"github.com/nvr-project/nvr/internal/passwd"
)

var (
	hashOnce           sync.Once
	aliceHash, bobHash string
)

// testHashes makes the users' hashes once: argon2id is slow on purpose.
func testHashes(t *testing.T) (string, string) {
	t.Helper()
	hashOnce.Do(func() {
		var err error
		if aliceHash, err = passwd.Hash("alice-pass"); err != nil {
			t.Fatal(err)
		}
		if bobHash, err = passwd.Hash("bob-pass"); err != nil {
			t.Fatal(err)
		}
	})
	return aliceHash, bobHash
}

func sessionFixture(t *testing.T, withToken bool) (*fixture, *clock.Fake) {
	a, b := testHashes(t)
	clk := clock.NewFake(t0)
	f := newFixture(t, func(o *Options) {
		o.Users = []User{{Name: "alice", PasswordHash: a}, {Name: "bob", PasswordHash: b, Cameras: []string{"back-yard"}}}
		o.Clock = clk
		if withToken {
			o.Tokens = []Token{{Value: "api-token-0123456789"}}
		}
	})
	return f, clk
}

// post sends a sign-in form as a browser on the page would.
func (f *fixture) post(t *testing.T, path string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "http://nvr.test"+path, strings.NewReader(form.Encode()))
	r.RemoteAddr = "192.0.2.1:40000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Origin", "http://nvr.test")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func signIn(t *testing.T, f *fixture, user, pass string) *http.Cookie {
	t.Helper()
	w := f.post(t, "/login", url.Values{"username": {user}, "password": {pass}, "next": {"/?camera=back-yard"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?camera=back-yard" {
		t.Fatalf("sign in as %s: %d %v", user, w.Code, w.Header())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie")
	return nil
}

func cookieHdr(c *http.Cookie) []string { return []string{"Cookie", c.Name + "=" + c.Value} }

func TestSignIn(t *testing.T) {
	f, clk := sessionFixture(t, false)

	// Signed out: the page redirects to sign-in, the API says 401, only
	// the sign-in page and /api/info answer.
	if w := f.do(t, "GET", "/?camera=front-door"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?next=") {
		t.Fatalf("signed-out /: %d %v", w.Code, w.Header())
	}
	for _, p := range []string{"/api/cameras", "/api/cameras/front-door/timeline?start=2026-03-29T00:00:00Z&end=2026-03-29T01:00:00Z", "/api/session", "/api/segments/1"} {
		if w := f.do(t, "GET", p); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "Front door") {
			t.Fatalf("signed-out %s: %d %s", p, w.Code, w.Body)
		}
	}
	if w := f.do(t, "GET", "/login"); w.Code != 200 || !strings.Contains(w.Body.String(), `autocomplete="current-password"`) ||
		!strings.Contains(w.Body.String(), `name="username"`) || strings.Contains(w.Body.String(), "Front door") {
		t.Fatalf("/login: %d", w.Code)
	}
	if w := f.do(t, "GET", "/api/info"); w.Code != 200 || !strings.Contains(w.Body.String(), `"sign_in":true`) {
		t.Fatalf("/api/info: %d %s", w.Code, w.Body)
	}

	// Wrong password: back to the form, no cookie.
	w := f.post(t, "/login", url.Values{"username": {"alice"}, "password": {"nope"}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?error=failed") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("wrong password: %d %v", w.Code, w.Header())
	}

	c := signIn(t, f, "alice", "alice-pass")
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != int(SessionTTL/time.Second) || c.Path != "/" || c.Secure {
		t.Fatalf("cookie %+v", c)
	}
	if w := f.do(t, "GET", "/api/cameras", cookieHdr(c)...); w.Code != 200 || !strings.Contains(w.Body.String(), "Front door") {
		t.Fatalf("signed-in cameras: %d", w.Code)
	}
	if w := f.do(t, "GET", "/", cookieHdr(c)...); w.Code != 200 {
		t.Fatalf("signed-in /: %d", w.Code)
	}

	// Fixation: a second sign-in presenting the first cookie gets a new
	// id, and the old one is dead.
	w = f.post(t, "/login", url.Values{"username": {"alice"}, "password": {"alice-pass"}}, cookieHdr(c)...)
	var c2 *http.Cookie
	for _, k := range w.Result().Cookies() {
		c2 = k
	}
	if c2 == nil || c2.Value == c.Value {
		t.Fatal("sign-in did not replace the session id")
	}
	if w := f.do(t, "GET", "/api/cameras", cookieHdr(c)...); w.Code != http.StatusUnauthorized {
		t.Fatalf("old session after a new sign-in: %d", w.Code)
	}

	// Sign-out needs the session's CSRF token.
	var sess struct{ User, CSRF string }
	w = f.do(t, "GET", "/api/session", cookieHdr(c2)...)
	if err := jsonDecode(w.Body.Bytes(), &sess); err != nil || sess.User != "alice" || sess.CSRF == "" {
		t.Fatalf("/api/session: %s", w.Body)
	}
	if w := f.post(t, "/logout", url.Values{"csrf": {"forged"}}, cookieHdr(c2)...); w.Code != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d", w.Code)
	}
	if w := f.post(t, "/logout", url.Values{"csrf": {sess.CSRF}}, cookieHdr(c2)...); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := f.do(t, "GET", "/api/cameras", cookieHdr(c2)...); w.Code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", w.Code)
	}

	// Expiry.
	c3 := signIn(t, f, "alice", "alice-pass")
	clk.Advance(SessionTTL)
	if w := f.do(t, "GET", "/api/cameras", cookieHdr(c3)...); w.Code != http.StatusUnauthorized {
		t.Fatalf("expired session: %d", w.Code)
	}
}

// A user limited to one camera sees only it: not the others in the list,
// not their footage, not their segment files.
func TestSignInScopedUser(t *testing.T) {
	f, _ := sessionFixture(t, false)
	c := signIn(t, f, "bob", "bob-pass")
	w := f.do(t, "GET", "/api/cameras", cookieHdr(c)...)
	if w.Code != 200 || strings.Contains(w.Body.String(), "Front door") || !strings.Contains(w.Body.String(), "Back yard") {
		t.Fatalf("bob's cameras: %s", w.Body)
	}
	for _, p := range []string{"/api/cameras/front-door", "/api/cameras/front-door/export?start=2026-03-29T00:00:00Z&end=2026-03-29T00:10:00Z",
		"/api/segments/1"} {
		if w := f.do(t, "GET", p, cookieHdr(c)...); w.Code != http.StatusForbidden {
			t.Fatalf("bob GET %s: %d", p, w.Code)
		}
	}
}

// Sign-in is refused from another site (login CSRF), guessing is limited
// as for tokens, and a cookie never excuses a wrong bearer token.
func TestSignInHostile(t *testing.T) {
	f, _ := sessionFixture(t, true)
	form := url.Values{"username": {"alice"}, "password": {"alice-pass"}}
	if w := f.post(t, "/login", form, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d", w.Code)
	}
	if w := f.post(t, "/login", form, "Sec-Fetch-Site", "", "Origin", "http://evil.example"); w.Code != http.StatusForbidden {
		t.Fatalf("foreign-origin sign-in: %d", w.Code)
	}
	c := signIn(t, f, "alice", "alice-pass")
	if w := f.do(t, "GET", "/api/cameras", append(cookieHdr(c), "Authorization", "Bearer wrong-token-0123456789")...); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong token with a cookie: %d", w.Code)
	}
	if w := f.do(t, "GET", "/api/cameras", "Authorization", "Bearer api-token-0123456789"); w.Code != 200 {
		t.Fatalf("token with users configured: %d", w.Code)
	}
	if w := f.post(t, "/login", url.Values{"username": {strings.Repeat("a", 10000)}}); w.Code != http.StatusBadRequest {
		t.Fatalf("oversized form: %d", w.Code)
	}
	for range MaxAuthFailures {
		f.post(t, "/login", url.Values{"username": {"alice"}, "password": {"guess"}})
	}
	w := f.post(t, "/login", form)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?error=locked" {
		t.Fatalf("right password while locked out: %d %v", w.Code, w.Header())
	}
	if w := f.post(t, "/api/cameras", nil); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST to the API: %d", w.Code)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		if got := localPath(next); got != "/" {
			t.Fatalf("localPath(%q) = %q", next, got)
		}
	}
}

func TestUsersOptionsValidated(t *testing.T) {
	a, _ := testHashes(t)
	for _, users := range [][]User{{{Name: "", PasswordHash: a}}, {{Name: "x", PasswordHash: "plain"}}, {{Name: "x", PasswordHash: a}, {Name: "x", PasswordHash: a}}} {
		if _, err := New(Options{Store: &fakeStore{}, Cameras: fakeCameras{}, Exporter: &fakeExporter{}, Users: users}); err == nil {
			t.Fatalf("users %v accepted", users)
		} else if strings.Contains(err.Error(), a) {
			t.Fatalf("error quotes the hash: %v", err)
		}
	}
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
