package uitest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startPulse runs a private PulseAudio server with one null sink for a
// browser that has no sound device of its own (headless Firefox: its
// Web Audio graph runs on an output device's clock, so without one an
// AudioContext never starts). The sink plays to nowhere at real time, so
// the test's beeps are measured but never heard, and the server is the
// test's own (its socket in a temporary directory, anonymous access), not
// the desktop's. It returns the value for PULSE_SERVER, or "" where
// pulseaudio is not installed — a failure in CI, which installs it.
func startPulse(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pulseaudio")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("required in CI: pulseaudio (headless Firefox's sound output)")
		}
		return ""
	}
	// A short directory: a unix socket's path is at most 107 bytes, and
	// t.TempDir's names grow with the test's.
	dir, err := os.MkdirTemp("", "pulse")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "native")
	cmd := exec.Command(path, "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1",
		"-n", "--log-target=stderr", "--log-level=error",
		"--load=module-native-protocol-unix auth-anonymous=1 socket="+sock,
		"--load=module-null-sink sink_name=nvrtest")
	// Its state and cookie go to dir, never the user's home.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CONFIG_HOME="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pulseaudio: %v", err)
	}
	exited := make(chan struct{})
	var lastLine string
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lastLine = sc.Text()
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return "unix:" + sock
		}
		select {
		case <-exited:
			t.Fatalf("pulseaudio exited before it listened: %s", lastLine)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("pulseaudio did not listen within 15 s")
		}
	}
}
