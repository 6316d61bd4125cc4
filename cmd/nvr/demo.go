package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/internal/testcam"
)

const demoHelp = `usage: nvr demo [flags]

Starts a built-in test camera in this process, records it into -data (./demo
by default) and serves the API, so nvr can be tried with nothing but Go.
Stop it with Ctrl-C; the recordings stay in the data directory.`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoHelp, stdout, stderr)
	dataDir := fs.String("data", "demo", "data directory for the demo's index and recordings")
	listen := fs.String("listen", "127.0.0.1:8080", "API address (loopback: the demo has no token)")
	segment := fs.Duration("segment", 10*time.Second, "segment duration (short, so segments appear quickly)")
	clip := fs.String("clip", testcam.ClipMain720, fmt.Sprintf("test clip, one of %v (H.264) or %v (H.265)", testcam.ClipNames, testcam.H265ClipNames))
	withAudio := fs.Bool("audio", true, "give the test camera its audio track (G.711 beeps, recorded as FLAC)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkDemoListen(*listen); err != nil {
		return err
	}
	log := newLogger(stderr, *logFormat)

	cam, err := testcam.Start(testcam.Options{Clip: *clip, Audio: *withAudio})
	if err != nil {
		return fmt.Errorf("starting test camera: %w", err)
	}
	defer cam.Close()

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	yaml := fmt.Sprintf(`data_dir: %q
listen: %q
segment_duration: %s
cameras:
  - id: demo
    name: Demo camera (built-in test clip)
    url: %q
`, abs, *listen, segment.String(), cam.URL())
	cfg, err := config.Parse([]byte(yaml), os.Getenv)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log.Info("demo camera started", slog.String("url", cam.URL()), slog.String("clip", *clip))
	log.Info("recording the demo camera", slog.String("segments", filepath.Join(abs, "recordings", "demo")),
		slog.String("api", "http://"+*listen+"/api/cameras"))
	return serve(ctx, cfg, log, true, nil, nil)
}
