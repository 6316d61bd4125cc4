// Package footage turns "camera X from A to B" into an export clip: it
// finds the segments in the index, opens and scans their files, and hands
// them to the export planner. It owns the open files of a clip until the
// clip is closed, the error for a range without footage and the span type
// of a clip's gaps; it does not speak HTTP (package api, which imports it)
// or write MP4 boxes itself (storage/export).
package footage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/export"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// listPage is how many index rows one query fetches; the whole list is read
// before any file is opened, so no read transaction stays open while the
// clip is served (RELIABILITY F14).
const listPage = 1000

// ErrNoFootage means an export range holds no recorded frames.
var ErrNoFootage = errors.New("no footage in range")

// Span is a wall-clock span [StartNS, EndNS) in UTC ns; a clip's gaps are
// spans without footage that the clip closed up.
type Span = export.Gap

// Clip is one exported MP4 whose size and bytes are fixed before the first
// byte is served, so that Range, HEAD and If-Range work. *ClipFiles is the
// exporter's; the API's tests provide their own.
type Clip interface {
	io.ReaderAt
	Size() int64
	ETag() string
	Gaps() []Span
	Close() error
}

// Store is what the exporter needs of the index (*storage.Store has it).
type Store interface {
	ListSegments(ctx context.Context, camera string, startNS, endNS int64, limit int, cursor string) ([]storage.Segment, string, error)
	OpenSegmentFile(seg storage.Segment) (*os.File, error)
}

// Exporter builds export clips. It is safe for concurrent use.
type Exporter struct {
	store Store
	loc   func() *time.Location
}

// New returns an exporter over store; loc gives the time zone of the
// optional timestamp track (nil: UTC).
func New(store Store, loc func() *time.Location) *Exporter {
	if loc == nil {
		loc = func() *time.Location { return time.UTC }
	}
	return &Exporter{store: store, loc: loc}
}

// ClipFiles is a planned export and the segment files it reads from.
type ClipFiles struct {
	*export.Clip
	files []*os.File
}

// Close releases the segment files.
func (c *ClipFiles) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// Export plans the clip of camera over [startNS, endNS), with a timestamp
// track if asked; it returns (a wrap of) ErrNoFootage when nothing was
// recorded in the range. A segment that is still being recorded is
// included up to its last complete fragment.
func (e *Exporter) Export(ctx context.Context, camera string, startNS, endNS int64, timestamps bool) (Clip, error) {
	c, err := e.Plan(ctx, camera, startNS, endNS, timestamps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Plan is Export with the concrete clip type.
func (e *Exporter) Plan(ctx context.Context, camera string, startNS, endNS int64, timestamps bool) (*ClipFiles, error) {
	var segs []storage.Segment
	cursor := ""
	for {
		page, next, err := e.store.ListSegments(ctx, camera, startNS, endNS, listPage, cursor)
		if err != nil {
			return nil, fmt.Errorf("listing segments: %w", err)
		}
		segs = append(segs, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
	}

	clip := &ClipFiles{}
	inputs := make([]export.Input, 0, len(segs))
	for _, seg := range segs {
		if err := ctx.Err(); err != nil {
			clip.Close()
			return nil, err
		}
		in, f, err := e.open(seg)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, storage.ErrNotFound) {
				continue // deleted by retention since the listing
			}
			clip.Close()
			return nil, err
		}
		if in == nil {
			f.Close()
			continue
		}
		clip.files = append(clip.files, f)
		inputs = append(inputs, *in)
	}
	ec, err := export.New(inputs, export.Options{StartNS: startNS, EndNS: endNS, Timestamps: timestamps, Location: e.loc()})
	if err != nil {
		clip.Close()
		if errors.Is(err, export.ErrNoFootage) {
			return nil, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
		}
		return nil, fmt.Errorf("planning export: %w", err)
	}
	clip.Clip = ec
	return clip, nil
}

// open opens and scans one segment. A segment with no complete fragment
// yet gives a nil input.
func (e *Exporter) open(seg storage.Segment) (*export.Input, *os.File, error) {
	f, err := e.store.OpenSegmentFile(seg)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %d: %w", seg.ID, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("segment %d: %w", seg.ID, err)
	}
	info, err := fmp4.Scan(f, st.Size())
	if err != nil || len(info.Samples) == 0 {
		if seg.State == storage.StateRecording {
			return nil, f, nil // nothing complete yet
		}
		f.Close()
		if err == nil {
			err = errors.New("no samples")
		}
		return nil, nil, fmt.Errorf("segment %d (%s): %w", seg.ID, seg.Path, err)
	}
	end := seg.EndNS
	if seg.State == storage.StateRecording || end <= seg.StartNS {
		// The row's end lags behind the file while recording: use what
		// the file holds.
		end = seg.StartNS + ticksToNS(info.Duration)
	}
	return &export.Input{Info: info, File: f, StartNS: seg.StartNS, EndNS: end}, f, nil
}

// ticksToNS converts 90 kHz ticks to nanoseconds without overflowing for
// any duration a segment can have (seconds and remainder apart).
func ticksToNS(t int64) int64 {
	return t/90000*int64(time.Second) + t%90000*int64(time.Second)/90000
}

var _ Clip = (*ClipFiles)(nil)
