package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Behind a reverse proxy or an SSH tunnel the loopback API is reached by a
// name: api.allowed_hosts lets that name in, and only that one.
func TestServeAllowedHosts(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf("data_dir: %s\nlisten: %s\napi:\n  allowed_hosts: [nvr.example.org, NVR-Tunnel]\n", filepath.Join(dir, "data"), listen))
	p := startServe(t, cfgPath, listen)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"nvr.example.org", 200},
		{"nvr.example.org:443", 200},
		{"nvr-tunnel:8080", 200},
		{"localhost:8080", 200},
		{"evil.example", 403},
	} {
		req, _ := http.NewRequest("GET", p.base+"/api/cameras", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		jerr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %s: %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
		if tc.want == 403 && (jerr != nil || body.Error != "host not allowed") {
			t.Errorf("Host %s: error body %+v (%v)", tc.host, body, jerr)
		}
	}
	// Headers too big for the server: 431, as JSON like every API error.
	req, _ := http.NewRequest("GET", p.base+"/api/cameras", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	jerr := json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || jerr != nil || body.Error != "request header fields too large" {
		t.Errorf("oversized headers: %d %s %+v (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), body, jerr)
	}
	if code := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}
