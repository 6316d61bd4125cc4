package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// A camera whose password holds every character that breaks a URL's
// user-info records through the username/password fields, and the password
// shows nowhere; nvr export then writes that footage to standard output
// and into a directory under the API's file name, and overwrites a file
// only with -f.
func TestServeCredentialFieldsAndExportOutputs(t *testing.T) {
	const pw = "p@ss#w/rd?%1"
	cam := startCam(t, testcam.Options{Username: "admin", Password: pw, Auth: testcam.AuthDigest})
	u, _ := url.Parse(cam.URL())
	u.User = nil
	dir := t.TempDir()
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	t.Setenv("CAM_PW", pw)
	writeConfig(t, cfgPath, fmt.Sprintf(`data_dir: %s
listen: %s
segment_duration: 1s
cameras:
  - id: cam
    url: %s
    username: admin
    password: ${CAM_PW}
`, filepath.Join(dir, "data"), listen, u))
	p := startServe(t, cfgPath, listen)
	p.waitFor(20*time.Second, "two segments", func() bool { return p.camera("cam").Segments >= 2 })
	if code := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logText, _ := os.ReadFile(p.log.Name())
	for _, s := range []string{pw, "w/rd", url.PathEscape(pw), url.QueryEscape(pw)} {
		if bytes.Contains(logText, []byte(s)) {
			t.Errorf("log shows the password (%q)", s)
		}
	}
	if !bytes.Contains(logText, []byte("version=")) {
		t.Errorf("serve did not log its version:\n%s", logText)
	}

	segs := checkIndex(t, filepath.Join(dir, "data"), "cam")
	start := time.Unix(0, segs[0].StartNS).UTC().Format(time.RFC3339Nano)
	end := time.Unix(0, segs[len(segs)-1].EndNS).UTC().Format(time.RFC3339Nano)
	args := []string{"export", "-config", cfgPath, "-camera", "cam", "-start", start, "-end", end}
	code, clip, errOut := runBin(t, nil, append(args, "-o", "-")...)
	if code != 0 || len(clip) < 1000 || !strings.Contains(clip[:64], "ftyp") {
		t.Fatalf("-o -: exit %d, %d bytes on stdout, stderr %q", code, len(clip), errOut)
	}
	if !strings.Contains(errOut, "standard output:") {
		t.Errorf("-o -: the summary should go to stderr: %q", errOut)
	}
	outDir := filepath.Join(dir, "clips")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runBin(t, nil, append(args, "-o", outDir)...); code != 0 {
		t.Fatalf("-o DIR: exit %d: %s", code, errOut)
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "cam_") || !strings.HasSuffix(entries[0].Name(), ".mp4") {
		t.Fatalf("-o DIR wrote %v", entries)
	}
	// The name is the one the API's export gives the same range.
	p = startServe(t, cfgPath, listen)
	resp, err := http.Head(p.base + "/api/cameras/cam/export?start=" + url.QueryEscape(start) + "&end=" + url.QueryEscape(end))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `"`+entries[0].Name()+`"`) {
		t.Errorf("-o DIR named the file %s; the API names it in %q", entries[0].Name(), cd)
	}
	p.stop(syscall.SIGTERM, 10*time.Second)
	saved := filepath.Join(outDir, entries[0].Name())
	if b, _ := os.ReadFile(saved); string(b) != clip {
		t.Errorf("-o DIR wrote %d bytes, -o - %d: they differ", len(b), len(clip))
	}
	if err := os.WriteFile(saved, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runBin(t, nil, append(args, "-o", saved)...); code != 1 || !strings.Contains(errOut, "give -f") {
		t.Errorf("existing file: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runBin(t, nil, append(args, "-f", "-o", saved)...); code != 0 {
		t.Errorf("-f: exit %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(saved); string(b) != clip {
		t.Errorf("-f did not overwrite the file with the export")
	}
}

// serve on a port that is taken fails before it creates or opens the data
// dir, and says why.
func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "nvr.yaml")
	data := filepath.Join(dir, "data")
	writeConfig(t, cfgPath, fmt.Sprintf("data_dir: %s\nlisten: %s\n", data, ln.Addr()))
	code, _, errOut := runBin(t, nil, "serve", "-init", "-config", cfgPath)
	if code != 1 || !strings.Contains(errOut, "already in use") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data dir touched before the listen failed: %v", err)
	}
}

// probe -camera connects as serve would: the config's username and
// password (here with every character a URL's user-info cannot hold).
func TestProbeConfiguredCamera(t *testing.T) {
	const pw = "p@ss#w/rd?%1"
	cam := startCam(t, testcam.Options{Username: "admin", Password: pw, Auth: testcam.AuthDigest, Speed: 2})
	u, _ := url.Parse(cam.URL())
	u.User = nil
	cfgPath := filepath.Join(t.TempDir(), "nvr.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf("data_dir: /nonexistent\ncameras:\n  - id: cam\n    url: %s\n    username: admin\n    password: ${CAM_PW}\n    transport: udp\n", u))
	env := []string{"CAM_PW=" + pw}
	code, out, errOut := runBin(t, env, "probe", "-duration", "1s", "-config", cfgPath, "-camera", "cam")
	if code != 0 || !strings.Contains(out, `"transport":"udp"`) || !strings.Contains(out, `"width":1280`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "w/rd") || strings.Contains(out, url.PathEscape(pw)) {
		t.Errorf("password shown: %s %s", out, errOut)
	}
	code, _, errOut = runBin(t, env, "probe", "-config", cfgPath, "-camera", "nope")
	if code != 1 || !strings.Contains(errOut, `camera "nope" is not in the config; its cameras are: cam`) {
		t.Errorf("unknown camera: exit %d, %q", code, errOut)
	}
}
