package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nvr-project/nvr/internal/passwd"
)

// Sign-in for the web UI. A <video> element cannot send an Authorization
// header, so a browser authenticates with a session cookie instead of a
// token: users sign in with a name and password from the config, get a
// random session id in an HttpOnly, SameSite=Strict cookie, and every
// request that changes anything (only sign-out) also carries the session's
// CSRF token. Sessions live in memory: a restart signs everyone out.

// User is one account of the web UI.
type User struct {
	Name         string
	PasswordHash string   // argon2id or bcrypt (internal/passwd)
	Cameras      []string // empty: every camera
}

// Session bounds.
const (
	// SessionCookie names the session cookie.
	SessionCookie = "nvr_session"
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL = 12 * time.Hour
	// MaxSessions bounds the sessions kept; the oldest go first.
	MaxSessions = 10000
	// MaxLoginBody bounds a sign-in form: two short fields.
	MaxLoginBody = 4 << 10
	// MaxConcurrentHashes bounds the password checks running at once: each
	// argon2id check takes 64 MiB and a core for a tenth of a second, so
	// a flood of sign-ins queues instead of exhausting memory.
	MaxConcurrentHashes = 2
	// HashWaitTimeout bounds the wait for a free password check.
	HashWaitTimeout = 10 * time.Second
	// maxUserNameLen bounds a submitted user name.
	maxUserNameLen = 256
)

type session struct {
	user    string
	p       *principal
	csrf    string
	expires time.Time
	created time.Time
}

type userEntry struct {
	hash string
	p    *principal
}

type sessionStore struct {
	users map[string]userEntry
	now   func() time.Time
	ttl   time.Duration
	hash  chan struct{} // MaxConcurrentHashes slots
	// dummyHash is checked for unknown user names, so the answer takes as
	// long as for a known one.
	dummyHash string

	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
}

func newSessionStore(users []User, now func() time.Time) (*sessionStore, error) {
	s := &sessionStore{users: map[string]userEntry{}, now: now, ttl: SessionTTL,
		hash: make(chan struct{}, MaxConcurrentHashes), byID: map[[sha256.Size]byte]*session{}}
	var problems []error
	for i, u := range users {
		if u.Name == "" {
			problems = append(problems, fmt.Errorf("Users[%d]: empty name", i))
			continue
		}
		if _, dup := s.users[u.Name]; dup {
			problems = append(problems, fmt.Errorf("Users[%d]: name %q repeats an earlier user", i, u.Name))
			continue
		}
		if err := passwd.Validate(u.PasswordHash); err != nil {
			problems = append(problems, fmt.Errorf("Users[%d]: password hash %w", i, err))
			continue
		}
		p := &principal{all: len(u.Cameras) == 0, cameras: map[string]bool{}}
		for _, c := range u.Cameras {
			p.cameras[c] = true
		}
		s.users[u.Name] = userEntry{hash: u.PasswordHash, p: p}
		if s.dummyHash == "" {
			s.dummyHash = u.PasswordHash
		}
	}
	return s, errors.Join(problems...)
}

func (s *sessionStore) enabled() bool { return len(s.users) > 0 }

func sessionKey(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// lookup returns the live session of r's cookie, or nil.
func (s *sessionStore) lookup(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(c.Value) > 128 {
		return nil
	}
	k := sessionKey(c.Value)
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[k]
	if sess == nil {
		return nil
	}
	if !s.now().Before(sess.expires) {
		delete(s.byID, k)
		return nil
	}
	return sess
}

// verify checks a user name and password. It holds one of the
// MaxConcurrentHashes slots while hashing.
func (s *sessionStore) verify(ctx context.Context, name, password string) (*principal, error) {
	ctx, cancel := context.WithTimeout(ctx, HashWaitTimeout)
	defer cancel()
	select {
	case s.hash <- struct{}{}:
	case <-ctx.Done():
		return nil, errBusy
	}
	defer func() { <-s.hash }()
	u, ok := s.users[name]
	hash := u.hash
	if !ok {
		hash = s.dummyHash
	}
	err := passwd.Check(password, hash)
	if !ok || err != nil {
		return nil, errWrongPassword
	}
	return u.p, nil
}

// create starts a session for user and returns its id.
func (s *sessionStore) create(user string, p *principal) (string, *session, error) {
	id, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	sess := &session{user: user, p: p, csrf: csrf, created: now, expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= MaxSessions {
		s.evictLocked(now)
	}
	s.byID[sessionKey(id)] = sess
	return id, sess, nil
}

// evictLocked drops expired sessions, then the oldest until there is room.
func (s *sessionStore) evictLocked(now time.Time) {
	var oldestK [sha256.Size]byte
	var oldest *session
	for k, v := range s.byID {
		if !now.Before(v.expires) {
			delete(s.byID, k)
			continue
		}
		if oldest == nil || v.created.Before(oldest.created) {
			oldest, oldestK = v, k
		}
	}
	if len(s.byID) >= MaxSessions && oldest != nil {
		delete(s.byID, oldestK)
	}
}

func (s *sessionStore) end(r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, sessionKey(c.Value))
		s.mu.Unlock()
	}
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("api: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var (
	errWrongPassword = errors.New("wrong user name or password")
	errBusy          = &httpError{status: http.StatusServiceUnavailable, msg: "too many sign-ins at once; try again", retryAfter: 1}
	errCSRF          = &httpError{status: http.StatusForbidden, msg: "missing or wrong CSRF token"}
)

// sameOrigin reports whether a state-changing request comes from a page of
// this server: Fetch Metadata says same-origin (or none: typed by the user),
// and an Origin header, if any, names this host. Login CSRF — a foreign page
// signing the victim in as the attacker — needs this as much as sign-out does.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	return !foreignOrigin(r)
}

// setCookie writes the session cookie; maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// localPath returns next if it is a path on this server, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || len(next) > 512 {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// login answers POST /login: the form of the sign-in page.
func (h *handler) login(w http.ResponseWriter, r *http.Request) error {
	if !h.sessions.enabled() {
		return errNotFoundPath
	}
	if !sameOrigin(r) {
		return errCrossSite
	}
	client := h.auth.clientKey(r)
	now := h.auth.now()
	if wait := h.auth.blocked(client, now); wait > 0 {
		http.Redirect(w, r, "/login?error=locked", http.StatusSeeOther)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxLoginBody)
	if err := r.ParseForm(); err != nil {
		return &httpError{status: http.StatusBadRequest, msg: "unreadable sign-in form"}
	}
	name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	next := localPath(r.PostForm.Get("next"))
	if len(name) > maxUserNameLen {
		name = ""
	}
	p, err := h.sessions.verify(r.Context(), name, password)
	if err != nil {
		if !errors.Is(err, errWrongPassword) {
			return err
		}
		h.m.authFailures.Inc()
		if h.auth.fail(client, now) && h.auth.onLockout != nil {
			h.auth.onLockout(client)
		}
		http.Redirect(w, r, "/login?error=failed&next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	h.auth.forget(client)
	// A new id at every sign-in: a session id planted before sign-in is
	// worth nothing after it (no fixation).
	h.sessions.end(r)
	id, _, err := h.sessions.create(name, p)
	if err != nil {
		return err
	}
	setCookie(w, r, id, int(h.sessions.ttl/time.Second))
	h.log.Info("user signed in", "user", name)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// logout answers POST /logout; it needs the session's CSRF token.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) error {
	if !sameOrigin(r) {
		return errCrossSite
	}
	sess := h.sessions.lookup(r)
	if sess == nil {
		setCookie(w, r, "", -1)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxLoginBody)
	_ = r.ParseForm()
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostForm.Get("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(sess.csrf)) != 1 {
		return errCSRF
	}
	h.sessions.end(r)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// sessionJSON is GET /api/session: who the browser is signed in as, and
// the token that sign-out needs.
type sessionJSON struct {
	User *string `json:"user"`
	CSRF string  `json:"csrf,omitempty"`
}

func (h *handler) sessionInfo(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r.URL.RawQuery); err != nil {
		return err
	}
	var out sessionJSON
	if sess := h.sessions.lookup(r); sess != nil {
		out.User, out.CSRF = &sess.user, sess.csrf
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// page serves "/" and "/login". With users configured, a browser without a
// session gets the sign-in page and nothing else.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	signedIn := !h.sessions.enabled() || h.sessions.lookup(r) != nil
	switch r.URL.Path {
	case "/login":
		if !h.sessions.enabled() {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
	case "/":
		if !signedIn {
			target := "/login"
			if r.URL.RawQuery != "" {
				target += "?next=" + url.QueryEscape("/?"+r.URL.RawQuery)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
	}
	h.ui.ServeHTTP(w, r)
}
