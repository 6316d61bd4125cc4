package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/passwd"
	"github.com/nvr-project/nvr/internal/testcert"
	"github.com/nvr-project/nvr/recorder/rtsp"
)

// TestServeTLS: with api.tls_cert and api.tls_key nvr serves the API and
// the UI over HTTPS only, the session cookie is Secure, and SIGHUP puts a
// renewed certificate in force without a restart.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	first, renewed := testcert.SelfSigned(t, "127.0.0.1"), testcert.SelfSigned(t, "127.0.0.1")
	certPath, keyPath := first.WritePEM(t, dir)
	hash, err := passwd.Hash("tls-user-pass")
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlisten: %s\napi:\n  tls_cert: %s\n  tls_key: %s\nusers:\n  - name: alice\n    password_hash: %q\n",
		filepath.Join(dir, "data"), listen, certPath, keyPath, hash)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nvrBin, "serve", "-init", "-config", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("nvr log:\n%s", b)
		}
	})

	roots := x509.NewCertPool()
	roots.AddCert(first.X509)
	roots.AddCert(renewed.X509)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       5 * time.Second,
	}
	base := "https://" + listen
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + listen + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on a TLS listener")
		}
	}

	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {"tls-user-pass"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == "nvr_session" && c.Secure && c.HttpOnly)
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("sign-in over TLS: %d, cookies %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}

	served := func() string {
		c, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return rtsp.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
	}
	if got := served(); got != rtsp.Fingerprint(first.DER()) {
		t.Fatalf("served %s", got)
	}
	renewed.WritePEM(t, dir) // the same file names, new contents
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := rtsp.Fingerprint(renewed.DER())
	deadline = time.Now().Add(10 * time.Second)
	for served() != want {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
