package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nvr-project/nvr/api"
	"github.com/nvr-project/nvr/fleet"
	"github.com/nvr-project/nvr/footage"
	"github.com/nvr-project/nvr/internal/config"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/ticks"
)

const exportHelp = `usage: nvr export -config nvr.yaml -camera ID -start T -end T -o clip.mp4

Writes the footage of one camera from -start to -end as one MP4 file, as the
API's export does, without a running server. Times are RFC 3339
(2026-11-25T08:00:00Z) or local times in the config's timezone
("2026-11-25 08:00"). -o names a new file (an existing one only with -f), a
directory (the file gets the name the API would give it), or - for standard
output. Shows progress on a terminal.`

// progressInterval is how often the progress line is redrawn.
const progressInterval = 200 * time.Millisecond

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", exportHelp, stdout, stderr)
	path := fs.String("config", "nvr.yaml", "config file (YAML)")
	camera := fs.String("camera", "", "camera id")
	startS := fs.String("start", "", "start time: RFC 3339 (2026-11-25T08:00:00Z) or local (\"2026-11-25 08:00\")")
	endS := fs.String("end", "", "end time, as -start")
	out := fs.String("o", "", "output: a new .mp4 file, a directory, or - for standard output")
	force := fs.Bool("f", false, "overwrite an existing output file")
	timestamps := fs.Bool("timestamps", false, "add a subtitle track with each second's wall-clock time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "camera", *camera, "start", *startS, "end", *endS, "o", *out); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	loc := cfg.Location()
	start, err := parseTimeArg("start", *startS, loc)
	if err != nil {
		return err
	}
	end, err := parseTimeArg("end", *endS, loc)
	if err != nil {
		return err
	}
	if !end.After(start) {
		return errors.New("-end must be after -start")
	}
	if _, ok := cfg.Camera(*camera); !ok {
		return unknownCamera(*camera, cfg)
	}
	if max := cfg.API.MaxExport.D(); max > 0 && end.Sub(start) > max {
		return fmt.Errorf("range is longer than api.max_export (%s)", max)
	}
	// The output is checked, and its temporary file created, before any
	// work: a typo in -o should not cost an export.
	dst, err := openOutput(*out, *force, api.ExportFileName(*camera, start.UnixNano(), end.UnixNano(), loc), stdout)
	if err != nil {
		return err
	}
	defer dst.abort()

	// Exporting never creates a data directory. Uploaded segments are
	// read from the bucket.
	objects, err := fleet.OpenObjects(cfg)
	if err != nil {
		return err
	}
	store, err := storage.OpenWithOptions(ctx, cfg.DataDir, storage.Options{RequireMarker: true, Postgres: cfg.Index.Postgres, Objects: objects})
	if err != nil {
		return fmt.Errorf("opening data dir: %w", err)
	}
	defer store.Close()
	clip, err := footage.New(store, cfg.Location).Plan(ctx, *camera, start.UnixNano(), end.UnixNano(), *timestamps)
	if err != nil {
		return err
	}
	defer clip.Close()

	w := dst.w
	var bar *progress
	if isTerminal(stderr) {
		bar = &progress{w: stderr, total: clip.Size()}
		w = io.MultiWriter(w, bar)
	}
	src := io.NewSectionReader(clip, 0, clip.Size())
	if _, err := io.Copy(w, ctxReader{ctx, src}); err != nil {
		return fmt.Errorf("writing %s: %w", dst.name, err)
	}
	if bar != nil {
		bar.finish()
	}
	if err := dst.commit(); err != nil {
		return err
	}
	// The summary goes where it does not mix with the video.
	report := stdout
	if dst.toStdout {
		report = stderr
	}
	fmt.Fprintf(report, "%s: %d bytes, %.1f s", dst.name, clip.Size(), ticks.Duration(clip.Duration()).Seconds())
	if g := clip.Gaps(); len(g) > 0 {
		fmt.Fprintf(report, ", %d gap(s) closed up", len(g))
	}
	switch {
	case !clip.HasAudio():
		fmt.Fprint(report, ", no audio")
	case clip.AudioSkipped() > 0:
		fmt.Fprintf(report, ", audio (%d segment(s) with other audio left silent)", clip.AudioSkipped())
	default:
		fmt.Fprint(report, ", with audio")
	}
	fmt.Fprintln(report)
	return nil
}

// unknownCamera says that id is not one of the config's cameras, and which
// ones are.
func unknownCamera(id string, cfg *config.Config) error {
	ids := make([]string, len(cfg.Cameras))
	for i, c := range cfg.Cameras {
		ids[i] = c.ID
	}
	if len(ids) == 0 {
		return fmt.Errorf("camera %q is not in the config, which has no cameras", clipArg(id))
	}
	return fmt.Errorf("camera %q is not in the config; its cameras are: %s", clipArg(id), strings.Join(ids, ", "))
}

// output is where an export goes: standard output, or a temporary file in
// the destination's directory that is renamed over it when complete, so a
// failed export never leaves a truncated clip behind.
type output struct {
	name     string // as shown to the user
	path     string // final path; "" for standard output
	toStdout bool
	w        io.Writer
	tmp      *os.File
	done     bool
}

// openOutput resolves -o: "-" is stdout; a directory gets apiName inside
// it; an existing file needs force. Errors name what the user gave.
func openOutput(o string, force bool, apiName string, stdout io.Writer) (*output, error) {
	if o == "-" {
		return &output{name: "standard output", toStdout: true, w: stdout}, nil
	}
	dst := o
	if st, err := os.Stat(o); err == nil && st.IsDir() {
		dst = filepath.Join(o, apiName)
	}
	dir := filepath.Dir(dst)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("-o %s: directory %s does not exist", o, dir)
	case err != nil:
		return nil, fmt.Errorf("-o %s: %w", o, err)
	case !st.IsDir():
		return nil, fmt.Errorf("-o %s: %s is not a directory", o, dir)
	}
	if st, err := os.Lstat(dst); err == nil {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("-o %s: %s exists and is not a regular file", o, dst)
		}
		if !force {
			return nil, fmt.Errorf("-o %s: %s exists; give -f to overwrite it", o, dst)
		}
	}
	tmp, err := os.CreateTemp(dir, ".nvr-export-*.mp4")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary name means nothing to the user
		}
		return nil, fmt.Errorf("-o %s: cannot write in %s: %w", o, dir, err)
	}
	return &output{name: dst, path: dst, w: tmp, tmp: tmp}, nil
}

// commit makes the export visible under its name.
func (o *output) commit() error {
	if o.tmp == nil {
		o.done = true
		return nil
	}
	if err := o.tmp.Chmod(0o644); err != nil { // CreateTemp makes it private
		return err
	}
	if err := o.tmp.Sync(); err != nil {
		return err
	}
	if err := o.tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.tmp.Name(), o.path); err != nil {
		return err
	}
	o.done = true
	return nil
}

// abort removes the temporary file of an export that did not commit.
func (o *output) abort() {
	if o.tmp == nil || o.done {
		return
	}
	o.tmp.Close()
	os.Remove(o.tmp.Name())
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
