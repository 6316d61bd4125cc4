package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Brute-force limiter bounds (RELIABILITY S5).
const (
	// MaxAuthFailures failed attempts from one client within AuthFailureWindow
	// lock that client out; a person mistyping does not get near it.
	MaxAuthFailures = 10
	// AuthFailureWindow is how long failures are remembered.
	AuthFailureWindow = time.Minute
	// AuthLockout is how long a locked-out client gets 429 for every request,
	// even with a valid token, so the lockout gives no oracle.
	AuthLockout = 5 * time.Minute
	// MaxTrackedClients bounds the limiter's memory under a many-address attack.
	MaxTrackedClients = 4096
	// MaxAuthHeaderLen bounds the Authorization header that is hashed.
	MaxAuthHeaderLen = 1024
)

// principal is who a request authenticated as.
type principal struct {
	all     bool
	cameras map[string]bool
}

func (p *principal) mayView(camera string) bool {
	return p == nil || p.all || p.cameras[camera]
}

type principalKey struct{}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

type tokenEntry struct {
	hash [sha256.Size]byte
	p    *principal
}

type authenticator struct {
	tokens  []tokenEntry
	trusted []netip.Prefix
	now     func() time.Time

	// onLockout, when set, is told (outside the lock) that a client was
	// just locked out.
	onLockout func(client netip.Prefix)

	mu      sync.Mutex
	clients map[netip.Prefix]*failureRecord
}

type failureRecord struct {
	failures     int
	windowStart  time.Time
	blockedUntil time.Time
}

func newAuthenticator(tokens []Token, trusted []netip.Prefix, now func() time.Time) (*authenticator, error) {
	a := &authenticator{trusted: trusted, now: now, clients: make(map[netip.Prefix]*failureRecord)}
	seen := make(map[[sha256.Size]byte]bool)
	var problems []error
	for i, t := range tokens {
		// Never echo the token itself: it is a secret.
		if len(t.Value) < MinTokenLen {
			problems = append(problems, fmt.Errorf("Tokens[%d]: shorter than %d characters", i, MinTokenLen))
			continue
		}
		if len(t.Value) > MaxAuthHeaderLen-len("Bearer ") {
			problems = append(problems, fmt.Errorf("Tokens[%d]: longer than %d characters", i, MaxAuthHeaderLen-len("Bearer ")))
			continue
		}
		if strings.ContainsFunc(t.Value, func(r rune) bool { return r <= ' ' || r > '~' }) {
			problems = append(problems, fmt.Errorf("Tokens[%d]: contains spaces, control or non-ASCII characters", i))
			continue
		}
		h := sha256.Sum256([]byte(t.Value))
		if seen[h] {
			problems = append(problems, fmt.Errorf("Tokens[%d]: repeats an earlier token", i))
			continue
		}
		seen[h] = true
		p := &principal{all: len(t.Cameras) == 0, cameras: make(map[string]bool)}
		for _, c := range t.Cameras {
			p.cameras[c] = true
		}
		a.tokens = append(a.tokens, tokenEntry{hash: h, p: p})
	}
	return a, errors.Join(problems...)
}

func (a *authenticator) enabled() bool { return len(a.tokens) > 0 }

// authenticate returns the principal of r, or a 401/429 error.
func (a *authenticator) authenticate(r *http.Request) (*principal, error) {
	if !a.enabled() {
		return nil, nil
	}
	client := a.clientKey(r)
	now := a.now()
	if wait := a.blocked(client, now); wait > 0 {
		return nil, &httpError{status: http.StatusTooManyRequests,
			msg: "too many failed authentication attempts", retryAfter: int((wait + time.Second - 1) / time.Second)}
	}
	if p := a.match(r.Header.Get("Authorization")); p != nil {
		a.forget(client)
		return p, nil
	}
	if a.fail(client, now) && a.onLockout != nil {
		a.onLockout(client)
	}
	return nil, errUnauthorized
}

// match compares the presented token with every configured one. Comparing
// SHA-256 digests with subtle.ConstantTimeCompare, over all tokens without an
// early exit, keeps the time independent of where a guess differs and of
// the tokens' lengths.
func (a *authenticator) match(header string) *principal {
	if len(header) > MaxAuthHeaderLen {
		return nil
	}
	// RFC 6750 §2.1: the scheme name is case-insensitive.
	scheme, value, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(value)))
	var found *principal
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(got[:], a.tokens[i].hash[:]) == 1 {
			found = a.tokens[i].p
		}
	}
	return found
}

func (a *authenticator) blocked(client netip.Prefix, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.clients[client]
	if rec == nil || !now.Before(rec.blockedUntil) {
		return 0
	}
	return rec.blockedUntil.Sub(now)
}

func (a *authenticator) forget(client netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, client)
}

// fail counts a failure and reports whether it locked the client out.
func (a *authenticator) fail(client netip.Prefix, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.clients[client]
	if rec == nil {
		if len(a.clients) >= MaxTrackedClients {
			a.evictLocked(now)
		}
		rec = &failureRecord{windowStart: now}
		a.clients[client] = rec
	}
	if now.Sub(rec.windowStart) > AuthFailureWindow {
		rec.failures, rec.windowStart = 0, now
	}
	rec.failures++
	if rec.failures >= MaxAuthFailures {
		rec.blockedUntil = now.Add(AuthLockout)
		rec.failures, rec.windowStart = 0, now
		return true
	}
	return false
}

// evictLocked makes room: first it drops records that expired; under an
// attack from more addresses than MaxTrackedClients it then drops an
// arbitrary eighth of the records that are not locked out (and, if every
// record is a lockout, of those), so the cost is amortised over many
// inserts instead of a full scan for each.
func (a *authenticator) evictLocked(now time.Time) {
	for k, rec := range a.clients {
		if now.Sub(rec.windowStart) > AuthFailureWindow && !now.Before(rec.blockedUntil) {
			delete(a.clients, k)
		}
	}
	target := MaxTrackedClients - MaxTrackedClients/8
	for _, spareLockouts := range []bool{true, false} {
		for k, rec := range a.clients {
			if len(a.clients) <= target {
				return
			}
			if spareLockouts && now.Before(rec.blockedUntil) {
				continue
			}
			delete(a.clients, k)
		}
	}
}

// clientKey names the client for the limiter: its IPv4 address or its IPv6
// /64 (one host usually holds a whole /64). X-Forwarded-For is believed only
// when the peer is a configured trusted proxy (CVE-2021-25827 style forged
// XFF would otherwise let an attacker pick a fresh identity per request);
// then the rightmost address that is not itself a trusted proxy is used.
func (a *authenticator) clientKey(r *http.Request) netip.Prefix {
	addr := peerAddr(r.RemoteAddr)
	if a.isTrusted(addr) {
		hops := r.Header.Values("X-Forwarded-For")
		var list []string
		for _, h := range hops {
			list = append(list, strings.Split(h, ",")...)
		}
		for i := len(list) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(list[i]))
			if err != nil {
				break // a garbled hop: stop at the last address we can vouch for
			}
			addr = hop.Unmap().WithZone("")
			if !a.isTrusted(addr) {
				break
			}
		}
	}
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func (a *authenticator) isTrusted(addr netip.Addr) bool {
	for _, p := range a.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return addr.Unmap().WithZone("")
}
