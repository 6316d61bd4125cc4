package recorder

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder/rtsp"
)

// A job reports every state it enters and every failure through
// Deps.OnChange; the failure keeps its chain for errors.Is while its
// message never holds the password (S3).
func TestJobReportsChanges(t *testing.T) {
	c := loadClip(t, testcam.ClipBase240)
	errDial := errors.New("connection refused")
	url := "rtsp://admin:s3cret@127.0.0.1:1/stream"
	refused := &rtsp.Error{Step: "connect", Kind: rtsp.ErrRefused, Err: fmt.Errorf("dial %s: %w", url, errDial)}
	op := &opener{script: []any{clipSession(c, 1, refused), refused}}
	env := newTestEnv(t, Config{RTSP: rtsp.Config{URL: url}}, op.open)
	op.pace = env.waitDrained
	var mu sync.Mutex
	var changes []Change
	env.job.deps.OnChange = func(ch Change) {
		mu.Lock()
		changes = append(changes, ch)
		mu.Unlock()
	}
	stop := startJob(t, env.job)
	env.clock.waitAfter(t, func(d time.Duration) bool { return d == time.Second }) // the first backoff
	stop()

	mu.Lock()
	defer mu.Unlock()
	var states []State
	var failures []error
	for _, ch := range changes {
		if len(states) == 0 || states[len(states)-1] != ch.Status.State {
			states = append(states, ch.Status.State)
		}
		if ch.Err != nil {
			failures = append(failures, ch.Err)
		}
	}
	want := []State{StateStarting, StateRecording, StateRetrying}
	if len(states) < len(want) || !slices.Equal(states[:len(want)], want) || states[len(states)-1] != StateStopped {
		t.Errorf("states %v, want %v ... %v", states, want, StateStopped)
	}
	if len(failures) == 0 {
		t.Fatal("no failure reported")
	}
	for _, err := range failures {
		if !errors.Is(err, errDial) {
			t.Errorf("failure %v lost its cause", err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("failure %q holds the password", err)
		}
	}
	if last := changes[len(changes)-1]; last.Status.State != StateStopped {
		t.Errorf("last change %q, want stopped", last.Status.State)
	}
}
