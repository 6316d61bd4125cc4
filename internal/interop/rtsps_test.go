package interop

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcert"
	"github.com/nvr-project/nvr/recorder/rtsp"
)

// TestServeRTSPS: gortsplib's server with TLS (RTSPS, Digest inside TLS,
// a self-signed certificate as cameras have). nvr probe refuses the
// unpinned certificate in one line naming its fingerprint and accepts it
// pinned; nvr serve records it pinned through a reconnect, and when the
// server comes back with another certificate, refuses it — state and log
// name both fingerprints — and records nothing more.
func TestServeRTSPS(t *testing.T) {
	t.Parallel()
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	const user, pass = "nvr", "tls:s3cr@t"
	c := clips.get(t, spec480)
	certA, certB := testcert.SelfSigned(t, "127.0.0.1"), testcert.SelfSigned(t, "127.0.0.1")
	fpA, fpB := rtsp.Fingerprint(certA.DER()), rtsp.Fingerprint(certB.DER())
	serving := func(cert *testcert.Cert) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{cert.TLS}} }
	port := freePort(t)
	gort := startGort(t, c, gortOptions{Port: port, User: user, Password: pass, TLS: serving(certA)})

	_, errOut, err := runProbe(t, "-duration", "1s", gort.URL())
	if line := strings.TrimSpace(errOut); err == nil || strings.Contains(line, "\n") ||
		!strings.Contains(line, "tls_fingerprint: "+fpA) || strings.Contains(line, "s3cr") {
		t.Fatalf("probe without a pin: %v, stderr %q", err, errOut)
	}
	out, errOut, err := runProbe(t, "-duration", "2s", "-tls-fingerprint", fpA, gort.URL())
	var res struct {
		URL            string `json:"url"`
		TLSFingerprint string `json:"tls_fingerprint"`
		Tracks         []struct {
			Codec         string
			Width, Height int
		} `json:"tracks"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("probe pinned: %v %s %s", err, out, errOut)
	}
	if res.TLSFingerprint != fpA || len(res.Tracks) != 1 || res.Tracks[0].Width != spec480.Width || strings.Contains(out, "s3cr") {
		t.Fatalf("probe pinned: %s", out)
	}

	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "nvr.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
listen: %s
segment_duration: 3s
fsync_interval: 1s
cameras:
  - id: doorbell
    url: '%s'
    auth: digest
    tls_fingerprint: %s
`, filepath.Join(dir, "data"), listen, gort.URL(), fpA)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfgPath, listen)
	p.waitFor(20*time.Second, "two segments", func() bool { return len(p.segments("doorbell")) >= 2 })

	// A reconnect: the server goes away and comes back, same certificate.
	gort.Cut(t, cutClean)
	time.Sleep(time.Second)
	gort = startGort(t, c, gortOptions{Port: port, User: user, Password: pass, TLS: serving(certA)})
	restarted := time.Now()
	p.waitFor(30*time.Second, "two segments after the reconnect", func() bool {
		n := 0
		for _, s := range p.segments("doorbell") {
			if s.Start.After(restarted) {
				n++
			}
		}
		return n >= 2
	})
	segs := p.segments("doorbell")
	checkExport(t, p, "doorbell", segs[0].Start.Add(100*time.Millisecond), segs[len(segs)-1].End.Add(-100*time.Millisecond), segs, dir)

	// The certificate changes: refused, with both fingerprints.
	gort.Cut(t, cutClean)
	changed := time.Now()
	startGort(t, c, gortOptions{Port: port, User: user, Password: pass, TLS: serving(certB)}) // closed by the test's cleanup
	p.waitFor(30*time.Second, "the changed certificate refused", func() bool {
		cam := p.camera("doorbell")
		return cam.State == "retrying" && strings.Contains(cam.LastError, fpA) && strings.Contains(cam.LastError, fpB)
	})
	time.Sleep(4 * time.Second) // a few retries
	for _, s := range p.segments("doorbell") {
		if s.Start.After(changed) {
			t.Fatalf("a segment was recorded from the changed certificate: %+v", s)
		}
	}
	if cam := p.camera("doorbell"); cam.State != "retrying" {
		t.Fatalf("state %q after the change", cam.State)
	}
	p.stop()
	log, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), fpB) || strings.Contains(string(log), "s3cr") {
		t.Fatalf("log should name the new fingerprint and never the password:\n%s", tail(log, 4096))
	}
}
