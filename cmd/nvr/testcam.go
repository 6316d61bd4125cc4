package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nvr-project/nvr/internal/redact"
	"github.com/nvr-project/nvr/internal/testcam"
)

const testcamHelp = `usage: nvr testcam [flags]

Serves a built-in H.264 test clip as an RTSP camera, for trying nvr (and other
RTSP clients) without a real camera. Runs until interrupted.`

func runTestcam(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("testcam", testcamHelp, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8554", "address to listen on")
	clip := fs.String("clip", testcam.ClipMain720, fmt.Sprintf("clip to serve, one of %v (H.264) or %v (H.265)", testcam.ClipNames, testcam.H265ClipNames))
	path := fs.String("path", "/cam", "stream path")
	user := fs.String("user", "", "require this user name (with -password)")
	password := fs.String("password", "", "require this password (with -user)")
	auth := fs.String("auth", "digest", "authentication scheme when -user is set: basic, digest, digest-sha256")
	withAudio := fs.Bool("audio", false, "add an audio track: G.711 µ-law, a 100 ms beep where each loop of the clip starts")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr, *logFormat)
	opts := testcam.Options{Clip: *clip, Path: *path, Addr: *listen, Audio: *withAudio}
	if *user != "" {
		opts.Username, opts.Password, opts.Auth = *user, *password, *auth
	}
	srv, err := testcam.Start(opts)
	if err != nil {
		return fmt.Errorf("starting test camera: %w", err)
	}
	defer srv.Close()
	log.Info("test camera serving", slog.String("url", redact.URL(srv.URL())), slog.String("clip", *clip))
	<-ctx.Done()
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("test camera did not stop within 5s")
	}
}
