package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/clock"
)

const (
	tokAll   = "all-cameras-token-0123456789"
	tokFront = "front-door-only-token-0123456"
)

func authFixture(t *testing.T, clk *clock.Fake, mod func(*Options)) *fixture {
	return newFixture(t, func(o *Options) {
		o.Tokens = []Token{{Value: tokAll}, {Value: tokFront, Cameras: []string{"front-door"}}}
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("nvr_up 1\n")) })
		if clk != nil {
			o.Clock = clk
		}
		if mod != nil {
			mod(o)
		}
	})
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestAuth(t *testing.T) {
	segOfBackYard := "/api/segments/" // filled below
	for _, tc := range []struct {
		name   string
		target string
		hdr    []string
		status int
	}{
		{"no token", "/api/cameras", nil, 401},
		{"wrong token", "/api/cameras", bearer("not-the-token-0123456789"), 401},
		{"token prefix", "/api/cameras", bearer(tokAll[:len(tokAll)-1]), 401},
		{"token with suffix", "/api/cameras", bearer(tokAll + "x"), 401},
		{"basic scheme", "/api/cameras", []string{"Authorization", "Basic " + tokAll}, 401},
		{"token in query is not accepted", "/api/cameras?token=" + tokAll, nil, 401},
		{"huge header", "/api/cameras", bearer(strings.Repeat("a", 5000)), 401},
		{"right token", "/api/cameras", bearer(tokAll), 200},
		{"lower-case scheme", "/api/cameras", []string{"Authorization", "bearer " + tokAll}, 200},
		{"unknown path needs a token first", "/api/nothing", nil, 401},
		{"healthz needs no token", "/healthz", nil, 200},
		{"metrics need a token", "/metrics", nil, 401},
		{"metrics with token", "/metrics", bearer(tokAll), 200},
		{"metrics refuse a scoped token", "/metrics", bearer(tokFront), 403},
		{"scoped: own camera", "/api/cameras/front-door", bearer(tokFront), 200},
		{"scoped: other camera", "/api/cameras/back-yard", bearer(tokFront), 403},
		{"scoped: unknown camera looks the same as a forbidden one", "/api/cameras/garage", bearer(tokFront), 403},
		{"scoped: other camera segments", "/api/cameras/back-yard/segments" + rangeQ, bearer(tokFront), 403},
		{"scoped: other camera timeline", "/api/cameras/back-yard/timeline" + rangeQ, bearer(tokFront), 403},
		{"scoped: other camera export", "/api/cameras/back-yard/export" + rangeQ, bearer(tokFront), 403},
		{"scoped: own export", "/api/cameras/front-door/export" + rangeQ, bearer(tokFront), 200},
		{"scoped: segment of other camera (S7)", segOfBackYard, bearer(tokFront), 403},
		{"scoped: own segment", "/api/segments/1", bearer(tokFront), 200},
		{"unscoped: any segment", segOfBackYard, bearer(tokAll), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := authFixture(t, nil, nil)
			target := tc.target
			if target == segOfBackYard {
				for _, s := range f.store.segs {
					if s.Camera == "back-yard" {
						target += strconv.FormatInt(s.ID, 10)
						break
					}
				}
			}
			w := f.do(t, "GET", target, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status >= 400 {
				errorOf(t, w)
				if f.exp.calls.Load() != 0 {
					t.Fatal("a refused request reached the exporter")
				}
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") != `Bearer realm="nvr"` {
				t.Fatalf("401 without WWW-Authenticate: %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestScopedTokenListsOnlyItsCameras(t *testing.T) {
	f := authFixture(t, nil, nil)
	w := f.do(t, "GET", "/api/cameras", bearer(tokFront)...)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"front-door"`) ||
		strings.Contains(w.Body.String(), "back-yard") || strings.Contains(w.Body.String(), "never-recorded") {
		t.Fatalf("scoped list: %d %s", w.Code, w.Body)
	}
	w = f.do(t, "GET", "/api/cameras", bearer(tokAll)...)
	if !strings.Contains(w.Body.String(), "back-yard") {
		t.Fatalf("unscoped list misses cameras: %s", w.Body)
	}
}

func TestAuthOff(t *testing.T) {
	f := newFixture(t, nil)
	for _, target := range []string{"/api/cameras", "/api/cameras/back-yard", "/api/segments/1"} {
		if w := f.do(t, "GET", target); w.Code != 200 {
			t.Errorf("%s without tokens configured: %d", target, w.Code)
		}
	}
	// A token sent anyway is ignored, not refused.
	if w := f.do(t, "GET", "/api/cameras", bearer("whatever-token-0123456789")...); w.Code != 200 {
		t.Errorf("with a stray token: %d", w.Code)
	}
}

// S5: repeated failures from one client lock it out (429 even with the
// right token, so the lockout is no oracle); forged X-Forwarded-For does not
// give a fresh identity; the lockout ends.
func TestBruteForceLockout(t *testing.T) {
	clock := clock.NewFake(t0)
	var logs bytes.Buffer
	f := authFixture(t, clock, func(o *Options) { o.Logger = newTextLogger(&logs) })
	attacker := "203.0.113.9:5555"
	for i := range MaxAuthFailures {
		w := f.do(t, "GET", "/api/cameras", "RemoteAddr", attacker,
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i), "Authorization", fmt.Sprintf("Bearer guess-%020d", i))
		if w.Code != 401 {
			t.Fatalf("attempt %d: status %d, want 401", i, w.Code)
		}
	}
	w := f.do(t, "GET", "/api/cameras", "RemoteAddr", attacker, "Authorization", "Bearer "+tokAll)
	if w.Code != 429 {
		t.Fatalf("after %d failures: status %d, want 429", MaxAuthFailures, w.Code)
	}
	if ra, _ := strconv.Atoi(w.Header().Get("Retry-After")); ra != int(AuthLockout/time.Second) {
		t.Fatalf("Retry-After %q, want %d", w.Header().Get("Retry-After"), int(AuthLockout/time.Second))
	}
	errorOf(t, w)
	if !strings.Contains(logs.String(), "locked out") || !strings.Contains(logs.String(), "203.0.113.9/32") ||
		strings.Contains(logs.String(), "guess-") || strings.Contains(logs.String(), tokAll) {
		t.Fatalf("lockout log: %q", logs.String())
	}
	// Another client is not affected.
	if w := f.do(t, "GET", "/api/cameras", "RemoteAddr", "192.0.2.50:1", "Authorization", "Bearer "+tokAll); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
	// The same /64 is the same IPv6 client.
	for i := range MaxAuthFailures {
		f.do(t, "GET", "/api/cameras", "RemoteAddr", fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
	}
	if w := f.do(t, "GET", "/api/cameras", "RemoteAddr", "[2001:db8:1:2:ffff::1]:443", "Authorization", "Bearer "+tokAll); w.Code != 429 {
		t.Fatalf("IPv6 /64 neighbour: %d, want 429", w.Code)
	}
	clock.Advance(AuthLockout)
	if w := f.do(t, "GET", "/api/cameras", "RemoteAddr", attacker, "Authorization", "Bearer "+tokAll); w.Code != 200 {
		t.Fatalf("after the lockout: %d", w.Code)
	}
}

func TestFailuresOutsideTheWindowDoNotLockOut(t *testing.T) {
	clock := clock.NewFake(t0)
	f := authFixture(t, clock, nil)
	for i := range 3 * MaxAuthFailures {
		if w := f.do(t, "GET", "/api/cameras"); w.Code != 401 {
			t.Fatalf("attempt %d: %d, want 401 (a slow typist is no attacker)", i, w.Code)
		}
		clock.Advance(AuthFailureWindow / (MaxAuthFailures - 2))
	}
}

func TestSuccessResetsFailures(t *testing.T) {
	f := authFixture(t, clock.NewFake(t0), nil)
	for range 3 {
		for range MaxAuthFailures - 1 {
			f.do(t, "GET", "/api/cameras")
		}
		if w := f.do(t, "GET", "/api/cameras", bearer(tokAll)...); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
}

func TestXForwardedForFromTrustedProxyOnly(t *testing.T) {
	clock := clock.NewFake(t0)
	f := authFixture(t, clock, func(o *Options) {
		o.TrustedProxies = mustPrefixes(t, "10.0.0.0/8")
	})
	proxy := "10.0.0.1:443"
	// Behind the proxy, each client is told apart by its XFF hop.
	for i := range MaxAuthFailures {
		f.do(t, "GET", "/api/cameras", "RemoteAddr", proxy, "X-Forwarded-For", "1.2.3.4, 198.51.100.7")
		_ = i
	}
	if w := f.do(t, "GET", "/api/cameras", "RemoteAddr", proxy, "X-Forwarded-For", "198.51.100.7", "Authorization", "Bearer "+tokAll); w.Code != 429 {
		t.Fatalf("client behind proxy after failures: %d, want 429", w.Code)
	}
	// The leftmost hop is client-written and ignored: the proxy appended .7.
	if w := f.do(t, "GET", "/api/cameras", "RemoteAddr", proxy, "X-Forwarded-For", "198.51.100.8", "Authorization", "Bearer "+tokAll); w.Code != 200 {
		t.Fatalf("another client behind the proxy: %d", w.Code)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	clock := clock.NewFake(t0)
	a, err := newAuthenticator([]Token{{Value: tokAll}}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxTrackedClients + 500 {
		r, _ := http.NewRequest("GET", "/api/cameras", nil)
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
		if _, err := a.authenticate(r); err == nil {
			t.Fatal("no token accepted")
		}
	}
	if n := len(a.clients); n > MaxTrackedClients {
		t.Fatalf("limiter tracks %d clients, bound %d", n, MaxTrackedClients)
	}
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
