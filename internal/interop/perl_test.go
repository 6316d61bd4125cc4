package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// perlReadyTimeout bounds the wait for the relay to serve the published
// stream: ffmpeg needs a moment to start encoding and ANNOUNCE it.
const perlReadyTimeout = 15 * time.Second

// perlRelay is rtsp-server-perl (Debian's RTSP relay: a publisher
// ANNOUNCEs and RECORDs, clients PLAY) with ffmpeg publishing a live
// libx264 stream to it. It serves RTP over UDP only.
type perlRelay struct {
	clientPort int
}

// startPerlRelay starts the relay and an ffmpeg publisher encoding
// testsrc2 at size and rate with two B-frames and the given GOP.
func startPerlRelay(t *testing.T, width, height, fps, keyint int) *perlRelay {
	t.Helper()
	perl := needTool(t, "rtsp-server-perl")
	ffmpeg := needTool(t, "ffmpeg")
	r := &perlRelay{clientPort: freePort(t)}
	sourcePort := freePort(t)
	relay := exec.Command(perl, "--clientport", fmt.Sprint(r.clientPort), "--serverport", fmt.Sprint(sourcePort),
		"--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
		"--rtp_start_port", fmt.Sprint(30000+2*rand.IntN(10000)), "--loglevel", "1")
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Process.Signal(syscall.SIGKILL); _ = relay.Wait() })
	waitListening(t, r.clientPort)
	waitListening(t, sourcePort)
	pub := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", width, height, fps), "-t", "120",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "2",
		"-g", fmt.Sprint(keyint), "-keyint_min", fmt.Sprint(keyint), "-x264-params", "scenecut=0",
		"-f", "rtsp", fmt.Sprintf("rtsp://127.0.0.1:%d/cam", sourcePort))
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Signal(syscall.SIGKILL); _ = pub.Wait() })
	deadline := time.Now().Add(perlReadyTimeout)
	for describeStatus(r.URL()) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("rtsp-server-perl does not serve the published stream within %s", perlReadyTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

func (r *perlRelay) URL() string { return rtspURL(r.clientPort, "cam", "", "") }

// waitListening waits until something accepts TCP connections on port.
func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(perlReadyTimeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describeStatus sends one DESCRIBE (RFC 2326 §10.2) and returns the
// response's status code, or 0 when there is none.
func describeStatus(url string) int {
	host := strings.SplitN(strings.TrimPrefix(url, "rtsp://"), "/", 2)[0]
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", url); err != nil {
		return 0
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0
	}
	var code int
	if _, err := fmt.Sscanf(line, "RTSP/1.0 %d", &code); err != nil {
		return 0
	}
	return code
}

// TestProbePerlRelay: nvr probe through rtsp-server-perl, a relay with its
// own RTSP stack, of a stream ffmpeg publishes (its RTP payloader, 720x576
// High with B-frames at 25 fps). The relay serves UDP only: over TCP the
// probe must fail with one line naming the step, not hang.
func TestProbePerlRelay(t *testing.T) {
	t.Parallel() // mostly waiting on real-time streams
	r := startPerlRelay(t, 720, 576, 25, 50)
	t.Run("udp", func(t *testing.T) {
		out, errOut, err := runProbe(t, "-transport", "udp", "-duration", "4500ms", r.URL())
		if err != nil {
			t.Fatalf("nvr probe: %v: %s", err, errOut)
		}
		var res probeJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("stdout is not JSON (%v): %s", err, out)
		}
		if len(res.Tracks) != 1 || res.Tracks[0].Width != 720 || res.Tracks[0].Height != 576 || res.Tracks[0].Profile != "High" {
			t.Errorf("tracks %+v, want one 720x576 High", res.Tracks)
		}
		if res.FPS < 24.9 || res.FPS > 25.1 || res.GOPS < 1.96 || res.GOPS > 2.04 {
			t.Errorf("fps %v gop_s %v, want 25 and 2", res.FPS, res.GOPS)
		}
	})
	t.Run("tcp refused", func(t *testing.T) {
		start := time.Now()
		out, errOut, err := runProbe(t, "-transport", "tcp", "-duration", "2s", "-timeout", "5s", r.URL())
		if err == nil {
			t.Fatalf("probe over TCP succeeded against a UDP-only server: %s", out)
		}
		line := strings.TrimSuffix(errOut, "\n")
		if line == "" || strings.Contains(line, "\n") || !strings.Contains(line, "SETUP") {
			t.Errorf("want one line naming SETUP, got %q", errOut)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("the refusal took %s", d)
		}
	})
}
