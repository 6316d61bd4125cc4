package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/ticks"
)

const exportHelp = `usage: nvr export -config nvr.yaml -camera ID -start T -end T -o clip.mp4

Writes the footage of one camera from -start to -end (RFC 3339 times) as one
MP4 file, as the API's export does, without a running server. Shows progress
on a terminal.`

// progressInterval is how often the progress line is redrawn.
const progressInterval = 200 * time.Millisecond

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", exportHelp, stderr)
	path := fs.String("config", "nvr.yaml", "config file (YAML)")
	camera := fs.String("camera", "", "camera id")
	startS := fs.String("start", "", "start time, RFC 3339 (e.g. 2026-11-25T08:00:00Z)")
	endS := fs.String("end", "", "end time, RFC 3339")
	out := fs.String("o", "", "output file (.mp4)")
	timestamps := fs.Bool("timestamps", false, "add a subtitle track with each second's wall-clock time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *camera == "" || *startS == "" || *endS == "" || *out == "" {
		fs.Usage()
		return errUsage
	}
	start, err := time.Parse(time.RFC3339Nano, *startS)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	end, err := time.Parse(time.RFC3339Nano, *endS)
	if err != nil {
		return fmt.Errorf("-end: %w", err)
	}
	if !end.After(start) {
		return errors.New("-end must be after -start")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if max := cfg.API.MaxExport.D(); max > 0 && end.Sub(start) > max {
		return fmt.Errorf("range is longer than api.max_export (%s)", max)
	}
	// Exporting never creates a data directory.
	store, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: true})
	if err != nil {
		return fmt.Errorf("opening data dir: %w", err)
	}
	defer store.Close()
	clip, err := footage.New(store, cfg.Location).Plan(ctx, *camera, start.UnixNano(), end.UnixNano(), *timestamps)
	if err != nil {
		return err
	}
	defer clip.Close()

	// Write to a temporary file in the same directory and rename it when
	// complete, so a failed export never leaves a truncated clip behind.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".nvr-export-*.mp4")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	var bar *progress
	if isTerminal(stderr) {
		bar = &progress{w: stderr, total: clip.Size()}
		w = io.MultiWriter(tmp, bar)
	}
	src := io.NewSectionReader(clip, 0, clip.Size())
	if _, err := io.Copy(w, ctxReader{ctx, src}); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if bar != nil {
		bar.finish()
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it private
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %.1f s", *out, clip.Size(), ticks.Duration(clip.Duration()).Seconds())
	if g := clip.Gaps(); len(g) > 0 {
		fmt.Fprintf(stdout, ", %d gap(s) closed up", len(g))
	}
	fmt.Fprintln(stdout)
	return nil
}

// ctxReader stops a copy when the context ends (Ctrl-C).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// progress draws a one-line progress bar.
type progress struct {
	w     io.Writer
	total int64
	done  int64
	last  time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= progressInterval {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	const width = 40
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < n {
			bar[i] = '='
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %d/%d MB", bar, frac*100, p.done>>20, p.total>>20)
}

func (p *progress) finish() {
	p.draw()
	fmt.Fprintln(p.w)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
