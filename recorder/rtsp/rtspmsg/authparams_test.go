package rtspmsg

import (
	"maps"
	"strconv"
	"strings"
	"testing"
)

// authParamCases are challenges' and credentials' params after the
// scheme; they also seed FuzzAuthParams.
var authParamCases = []struct {
	name string
	in   string
	want map[string]string
	rest string
}{
	{"credentials", `username="admin", realm="r", nonce="n", uri="rtsp://h/cam", response="abc"`,
		map[string]string{"username": "admin", "realm": "r", "nonce": "n", "uri": "rtsp://h/cam", "response": "abc"}, ""},
	{"tokens", `qop=auth, nc=00000001,cnonce="x"`, map[string]string{"qop": "auth", "nc": "00000001", "cnonce": "x"}, ""},
	{"quoted comma and escape", `realm="a,b", Nonce="q\"uote", opaque="back\\slash"`,
		map[string]string{"realm": "a,b", "nonce": `q"uote`, "opaque": `back\slash`}, ""},
	{"qop list", `realm="IP Camera", nonce="x", qop="auth,auth-int"`, map[string]string{"realm": "IP Camera", "nonce": "x", "qop": "auth,auth-int"}, ""},
	{"unterminated", `username="unterminated`, map[string]string{"username": "unterminated"}, ""},
	// RFC 7235 §2.1 allows white space around '=' (BWS).
	{"bws", "realm = \"r\" ,\tnonce\t=n", map[string]string{"realm": "r", "nonce": "n"}, ""},
	// A token without '=' starts the next challenge.
	{"next challenge", `realm="a", nonce="n", Basic realm="b"`, map[string]string{"realm": "a", "nonce": "n"}, `Basic realm="b"`},
	{"next scheme alone", `realm="a", Negotiate`, map[string]string{"realm": "a"}, "Negotiate"},
	{"repeated name", `nonce=a, nonce=b`, map[string]string{"nonce": "b"}, ""},
	{"novalue", `novalue`, map[string]string{}, "novalue"},
	// Only ASCII letters change case: a stray byte stays one byte.
	{"not utf-8", "N\xf7=0", map[string]string{"n\xf7": "0"}, ""},
	{"empty", ``, map[string]string{}, ""},
}

func TestParseAuthParams(t *testing.T) {
	for _, tc := range authParamCases {
		got, rest := ParseAuthParams(tc.in)
		if !maps.Equal(got, tc.want) || rest != tc.rest {
			t.Errorf("%s: got %v rest %q, want %v rest %q", tc.name, got, rest, tc.want, tc.rest)
		}
	}
}

func TestParseAuthParamsBound(t *testing.T) {
	var b strings.Builder
	for i := range MaxAuthParams + 10 {
		b.WriteString("k" + strconv.Itoa(i) + "=v, ")
	}
	b.WriteString("Basic realm=x")
	got, rest := ParseAuthParams(b.String())
	if len(got) != MaxAuthParams || rest != "Basic realm=x" {
		t.Fatalf("%d params, rest %q", len(got), rest)
	}
}
