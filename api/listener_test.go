package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Even the answers net/http gives before the handler runs are JSON: 431 for
// oversized headers and 400 for a request it cannot parse.
func TestListenerErrorsAreJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"ok": strings.Repeat("x", 100)})
	}))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(WrapListener(ln)) }()
	defer func() { srv.Close(); <-done }()

	for _, tc := range []struct {
		name, req string
		status    int
		msg       string
	}{
		{"oversized headers", "GET /api/cameras HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 2*MaxHeaderBytes) + "\r\n\r\n", 431, "request header fields too large"},
		{"no host", "GET /api/cameras HTTP/1.1\r\n\r\n", 400, "bad request: missing required Host header"},
		{"bad request line", "GARBAGE\r\n\r\n", 400, "bad request"},
		{"fine", "GET /api/cameras HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, ""},
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, tc.req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		var e struct{ Error string }
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &e) != nil {
			t.Errorf("%s: %d %s %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			continue
		}
		if tc.msg != "" && !strings.HasPrefix(e.Error, tc.msg) {
			t.Errorf("%s: error %q, want %q", tc.name, e.Error, tc.msg)
		}
	}
	// Other writes pass through untouched.
	if out, ok := rewritePlainError([]byte("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{}")); ok {
		t.Errorf("rewrote a handler's response: %q", out)
	}
}
