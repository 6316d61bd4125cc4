package fleet

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
)

// jumpSession plays a clip, then the clip again with its RTP timestamps
// 30 s ahead (a camera whose clock was reset, R15), then stays silent.
type jumpSession struct {
	clip  *testcam.Clip
	begin <-chan struct{}
}

func (s *jumpSession) Info() rtsp.Info {
	sprop := base64.StdEncoding.EncodeToString(s.clip.SPS) + "," + base64.StdEncoding.EncodeToString(s.clip.PPS)
	return rtsp.Info{Video: rtsp.VideoTrack{Track: rtsp.Track{Codec: "H264"}, SpropParameterSets: sprop}}
}
func (s *jumpSession) Stats() rtsp.Stats { return rtsp.Stats{} }
func (s *jumpSession) Close() error      { return nil }
func (s *jumpSession) ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error {
	select {
	case <-s.begin:
	case <-ctx.Done():
		return ctx.Err()
	}
	first := testcam.PacketizeRTP(s.clip, 1400, 1, 0, 0)
	second := testcam.PacketizeRTP(s.clip, 1400, 1, uint16(len(first)), uint32(s.clip.Duration+30*90000))
	for _, p := range append(first, second...) {
		if err := fn(p); err != nil {
			return err
		}
		time.Sleep(100 * time.Microsecond) // a camera's pace, so the queue never overflows
	}
	<-ctx.Done()
	return ctx.Err()
}

// syncBuffer is a log destination safe for the fleet's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A jump of the camera's RTP clock is published as TimeJumped once the
// new run starts, and logged.
func TestTimeJumpEventAndLog(t *testing.T) {
	clip, err := testcam.LoadClip(testcam.ClipBase240)
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var logBuf syncBuffer
	cfg := parseConfig(t, fmt.Sprintf("data_dir: %s\ncameras:\n  - id: cam\n    url: rtsp://127.0.0.1:1/cam\n", filepath.Join(t.TempDir(), "data")))
	ctx := context.Background()
	f, err := Open(ctx, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), InitData: true,
		PrepareJob: func(_ *recorder.Config, deps *recorder.Deps) {
			deps.Open = func(context.Context, rtsp.Config) (recorder.Session, error) {
				return &jumpSession{clip: clip, begin: start}, nil
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sub := f.Subscribe(MaxBuffer)
	close(start)
	timeout := time.After(20 * time.Second)
	var jumped TimeJumped
	for jumped.Jumps == 0 {
		select {
		case ev := <-sub.Events():
			if j, ok := ev.(TimeJumped); ok {
				jumped = j
			}
		case <-timeout:
			t.Fatal("no TimeJumped event in 20 s")
		}
	}
	if jumped.Camera != "cam" || jumped.Jumps != 1 {
		t.Errorf("TimeJumped %+v, want camera cam, 1 jump", jumped)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if log := logBuf.String(); !strings.Contains(log, "camera timestamps jumped; new run started") || !strings.Contains(log, "jumps=1") {
		t.Errorf("the log does not report the jump:\n%s", log)
	}
}
