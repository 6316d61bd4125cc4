package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/internal/testdisk"
)

// TestServeDiskFull fills a small filesystem (RELIABILITY F5): the segment
// in progress is closed cleanly at its last complete fragment, the state
// and the log say the disk is full, and once a reload sets min_free_bytes
// retention frees space and recording resumes. Every file left decodes.
func TestServeDiskFull(t *testing.T) {
	disk := testdisk.Small(t, "6m")
	cam := startCam(t, testcam.Options{}) // ~0.5 MB/s
	listen := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "nvr.yaml")
	data := filepath.Join(disk, "data")
	base := fmt.Sprintf("data_dir: %s\nlisten: %s\nsegment_duration: 2s\nfsync_interval: 1s\ncameras:\n  - id: cam\n    url: %s\n", data, listen, cam.URL())
	writeConfig(t, cfgPath, base)
	p := startServe(t, cfgPath, listen)

	p.waitFor(40*time.Second, "the disk to fill", func() bool {
		c := p.camera("cam")
		return c.State == "retrying" && strings.Contains(c.LastError, "no space left on device")
	})
	writeConfig(t, cfgPath, base+"retention:\n  min_free_bytes: 2MiB\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	p.waitFor(60*time.Second, "recording to resume", func() bool {
		return p.camera("cam").State == "recording" && time.Since(resumed) > 3*time.Second
	})
	// Recording goes on past the size of the disk.
	time.Sleep(6 * time.Second)
	if c := p.camera("cam"); c.State != "recording" {
		t.Errorf("state %q (%s) after retention freed space", c.State, c.LastError)
	}
	if code := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	log, _ := os.ReadFile(p.log.Name())
	if !strings.Contains(string(log), "no space left on device") {
		t.Errorf("the log does not say the disk was full")
	}
	segs := checkIndex(t, data, "cam")
	for _, s := range segs {
		path := filepath.Join(data, "recordings", filepath.FromSlash(s.Path))
		if n := ffprobeFrames(t, path); int64(n) != s.Frames {
			t.Errorf("%s: ffprobe counts %d frames, index %d", s.Path, n, s.Frames)
		}
	}
}

// TestServeRefusesUnmarkedDataDir: an empty data_dir (a disk that did not
// mount) is refused without -init (RELIABILITY F6), and accepted once it
// has been initialised.
func TestServeRefusesUnmarkedDataDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "mnt")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "nvr.yaml")
	writeConfig(t, cfgPath, fmt.Sprintf("data_dir: %s\nlisten: %s\ncameras:\n  - id: cam\n    url: rtsp://127.0.0.1:1/x\n", data, listen))
	out, err := exec.Command(nvrBin, "serve", "-config", cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-init") {
		t.Fatalf("empty data_dir accepted without -init (err %v):\n%s", err, out)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("refused data_dir was written to: %v", entries)
	}
	p := startServe(t, cfgPath, listen) // with -init
	if code := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	cmd := exec.Command(nvrBin, "serve", "-config", cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("initialised data_dir refused without -init: %v", err)
	case <-time.After(2 * time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
