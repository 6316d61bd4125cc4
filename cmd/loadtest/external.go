package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// externalStartTimeout bounds the wait for the external server's
	// "ready" line.
	externalStartTimeout = 10 * time.Second
	// externalStatsTTL: the drain asks for every camera's sent count each
	// poll; one request to the server answers them all for this long.
	externalStatsTTL = pollInterval / 2
	// externalReplyTimeout bounds the wait for one stats reply.
	externalReplyTimeout = 5 * time.Second
	// maxExternalLine bounds a line from the server: one JSON object with
	// a count per camera.
	maxExternalLine = 64 * (maxCameras + 1)
	// externalStopTimeout bounds the server's exit after its stdin closes.
	externalStopTimeout = 5 * time.Second
)

// external is the RTSP server of -external: a separate process (the
// refserver command) serving every camera at prefix/camNNNN and telling
// how many frames it sent to each, one JSON line per line asked.
type external struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string // stdout lines after "ready", closed at EOF
	prefix string

	mu   sync.Mutex
	last map[string]float64
	at   time.Time
	err  error
}

// startExternal starts the server at path for o's cameras, clip, duration
// and transport, and waits until it listens.
func startExternal(path string, o Options) (*external, error) {
	args := []string{"-streams", strconv.Itoa(o.Cameras), "-clip", o.Clip, "-duration", o.Duration.String()}
	if o.Transport == "udp" {
		args = append(args, "-udp")
	}
	cmd := exec.Command(path, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: external server: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("loadtest: external server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: external server: %w", err)
	}
	e := &external{cmd: cmd, in: in, lines: make(chan string, 1)}
	go func() { // ends at the server's EOF, which stop waits for
		defer close(e.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 4096), maxExternalLine)
		for sc.Scan() {
			e.lines <- sc.Text()
		}
	}()
	select {
	case l, ok := <-e.lines:
		if p, found := strings.CutPrefix(l, "ready "); ok && found {
			e.prefix = p
			return e, nil
		}
		e.stop()
		return nil, fmt.Errorf("loadtest: external server: want a ready line, got %q", l)
	case <-time.After(externalStartTimeout):
		e.stop()
		return nil, fmt.Errorf("loadtest: external server: not ready after %v", externalStartTimeout)
	}
}

// url is camera id's stream URL.
func (e *external) url(id string) string { return e.prefix + "/" + id }

// stats returns the server's counts (frames sent by camera id, and
// "_cpu_s"), at most externalStatsTTL old. After a failure it keeps
// returning the last counts and the error.
func (e *external) stats() (map[string]float64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil || (e.last != nil && time.Since(e.at) < externalStatsTTL) {
		return e.last, e.err
	}
	if _, err := io.WriteString(e.in, "stats\n"); err != nil {
		e.err = fmt.Errorf("loadtest: external server: %w", err)
		return e.last, e.err
	}
	select {
	case l, ok := <-e.lines:
		if !ok {
			e.err = errors.New("loadtest: external server: exited")
			return e.last, e.err
		}
		m := map[string]float64{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			e.err = fmt.Errorf("loadtest: external server: %w", err)
			return e.last, e.err
		}
		e.last, e.at = m, time.Now()
	case <-time.After(externalReplyTimeout):
		e.err = errors.New("loadtest: external server: no stats reply")
	}
	return e.last, e.err
}

// sent returns the frames the server sent to camera id.
func (e *external) sent(id string) int64 {
	m, _ := e.stats()
	return int64(m[id])
}

// cpu returns the server's own CPU seconds so far.
func (e *external) cpu() float64 {
	m, _ := e.stats()
	return m["_cpu_s"]
}

// stop closes the server's stdin, which ends it, and waits for it (killing
// it after externalStopTimeout).
func (e *external) stop() {
	_ = e.in.Close()
	done := make(chan struct{})
	go func() {
		_ = e.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(externalStopTimeout):
		_ = e.cmd.Process.Kill()
		<-done
	}
	for range e.lines { // drain so the reader goroutine ends
	}
}
