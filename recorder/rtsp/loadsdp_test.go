package rtsp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSDP(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cam.sdp")
	if err := os.WriteFile(file, []byte(testSDP), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.sdp")
	if err := os.WriteFile(big, make([]byte, maxSDPFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.sdp")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cam.sdp":
			_, _ = w.Write([]byte(testSDP))
		case "/huge.sdp":
			_, _ = w.Write(make([]byte, maxSDPFile+100))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	withPass := strings.Replace(srv.URL, "http://", "http://u:hunter2@", 1)
	cases := []struct {
		name    string
		src     string
		wantErr string
	}{
		{"file", file, ""},
		{"http", srv.URL + "/cam.sdp", ""},
		{"http with credentials", withPass + "/cam.sdp?pwd=hunter2", ""},
		{"missing file", filepath.Join(dir, "nope.sdp"), "no such file"},
		{"file too large", big, "larger than"},
		{"empty file", empty, "empty SDP"},
		{"http 404", withPass + "/nope.sdp?pwd=hunter2", "HTTP status 404"},
		{"http too large", srv.URL + "/huge.sdp", "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LoadSDP(context.Background(), tc.src)
			if tc.wantErr == "" {
				if err != nil || string(b) != testSDP {
					t.Fatalf("LoadSDP = %d bytes, %v", len(b), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want %q without the password", err, tc.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadSDP(ctx, srv.URL+"/cam.sdp"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{URL: "http://u:hunter2@h/x", Transport: "sctp", MediaTimeout: -1}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"URL:", "Transport:", "MediaTimeout:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("password in %q", err)
	}
	if err := (Config{URL: "rtsp://h/x"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
