// Package footage turns "camera X from A to B" into an export clip: it
// finds the segments in the index, takes their sample tables from the
// index (or, for a segment still recording, from the part of its file that
// was synced), and hands them to the export planner. Plans are kept in a
// small cache, so the Range requests of a player seeking in a clip reuse
// one plan instead of planning again. It owns the files a clip reads until
// the clip is closed, the error for a range without footage and the span
// type of a clip's gaps; it does not speak HTTP (package api, which imports
// it) or write MP4 boxes itself (storage/export).
package footage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/export"
	"github.com/nvr-project/nvr/storage/fmp4"
	"github.com/nvr-project/nvr/ticks"
)

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

// listPage is how many index rows one query fetches; the whole list is read
// before any file is opened, so no read transaction stays open while the
// clip is served (RELIABILITY F14).
const listPage = 1000

// maxPlanWorkers bounds the goroutines that decode one plan's segments.
const maxPlanWorkers = 4

// maxOpenFiles bounds the segment files one clip keeps open: a download
// reads them in order, so a few suffice, and a 24-hour clip of 1440
// segments must not hold 1440 descriptors per download.
const maxOpenFiles = 4

// Store is what the exporter needs of the index (*storage.Store has it).
type Store interface {
	// The index's queries of one stream of a camera (storage.StreamMain or
	// StreamSub).
	ListStreamSegments(ctx context.Context, camera, stream string, startNS, endNS int64, limit int, cursor string) ([]storage.Segment, string, error)
	StreamRangeVersion(ctx context.Context, camera, stream string, startNS, endNS int64) ([32]byte, error)
	StreamSampleIndexes(ctx context.Context, camera, stream string, startNS, endNS int64) (map[int64][]byte, error)
	PutSampleIndex(ctx context.Context, id int64, idx []byte) error
	// OpenSegment reads a segment from its local file or its object.
	OpenSegment(ctx context.Context, seg storage.Segment) (storage.SegmentReader, error)
	CheckSegmentFile(seg storage.Segment) error
}

// Exporter builds export clips. It is safe for concurrent use.
type Exporter struct {
	store Store
	loc   func() *time.Location
	cache *planCache
}

// New returns an exporter over store; loc gives the time zone of the
// optional timestamp track (nil: UTC).
func New(store Store, loc func() *time.Location) *Exporter {
	if loc == nil {
		loc = func() *time.Location { return time.UTC }
	}
	return &Exporter{store: store, loc: loc, cache: newPlanCache(maxCachedPlans, maxCacheBytes)}
}

// plan is a planned clip without open files: it may be shared by many
// readers (the cache hands the same plan to every request for the clip).
type plan struct {
	clip *export.Clip
	segs []storage.Segment // by input of clip
}

// ClipFiles is a planned export and the segment files it reads from, which
// it opens when their bytes are first read.
type ClipFiles struct {
	*export.Clip
	store Store
	segs  []storage.Segment

	mu    sync.Mutex
	files []openFile // at most maxOpenFiles, most recently used last
}

type openFile struct {
	src int
	f   storage.SegmentReader
}

// ReadAt reads the clip's bytes at off (see export.Clip.ReadAt). A
// segment file that is gone by the time its bytes are read ends the read
// with an error, never with other bytes.
func (c *ClipFiles) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Clip.ReadAtFrom(c.file, p, off)
}

// file returns input src's open file; c.mu is held.
func (c *ClipFiles) file(src int) (io.ReaderAt, error) {
	for i, of := range c.files {
		if of.src == src {
			copy(c.files[i:], c.files[i+1:])
			c.files[len(c.files)-1] = of
			return of.f, nil
		}
	}
	// Each object read is bounded by objstore.OpTimeout; a clip's reads
	// outlive the request that planned it (Range requests reuse it).
	f, err := c.store.OpenSegment(context.Background(), c.segs[src])
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			err = fmt.Errorf("%w: %w", export.ErrSourceChanged, err)
		}
		return nil, fmt.Errorf("segment %d: %w", c.segs[src].ID, err)
	}
	if len(c.files) == maxOpenFiles {
		c.files[0].f.Close()
		c.files = c.files[1:]
	}
	c.files = append(c.files, openFile{src: src, f: f})
	return f, nil
}

// Close releases the segment files.
func (c *ClipFiles) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, of := range c.files {
		errs = append(errs, of.f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// Export plans the clip of camera over [startNS, endNS), with a timestamp
// track if asked; it returns (a wrap of) ErrNoFootage when nothing was
// recorded in the range. A segment that is still being recorded is
// included up to what has been synced.
func (e *Exporter) Export(ctx context.Context, camera string, startNS, endNS int64, timestamps bool) (Clip, error) {
	return e.ExportStream(ctx, camera, storage.StreamMain, startNS, endNS, timestamps)
}

// ExportStream is Export of one stream of the camera (storage.StreamMain
// or StreamSub).
func (e *Exporter) ExportStream(ctx context.Context, camera, stream string, startNS, endNS int64, timestamps bool) (Clip, error) {
	c, err := e.PlanStream(ctx, camera, stream, startNS, endNS, timestamps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Plan is Export with the concrete clip type.
//
// The range's index rows are checked on every call (one query); while
// they are what a cached plan was made from, that plan is used, so its
// ETag and bytes stay the same as long as the footage does.
func (e *Exporter) Plan(ctx context.Context, camera string, startNS, endNS int64, timestamps bool) (*ClipFiles, error) {
	return e.PlanStream(ctx, camera, storage.StreamMain, startNS, endNS, timestamps)
}

// PlanStream is Plan of one stream of the camera.
func (e *Exporter) PlanStream(ctx context.Context, camera, stream string, startNS, endNS int64, timestamps bool) (*ClipFiles, error) {
	rows, err := e.store.StreamRangeVersion(ctx, camera, stream, startNS, endNS)
	if err != nil {
		return nil, fmt.Errorf("checking segments: %w", err)
	}
	loc := e.loc()
	key := planKey{camera: camera, stream: stream, startNS: startNS, endNS: endNS, timestamps: timestamps, loc: loc.String()}
	p := e.cache.get(key, rows)
	if p == nil {
		// Rows that change between the check and the listing give a
		// plan newer than its version: the next call sees another
		// version and plans again.
		if p, err = e.plan(ctx, camera, stream, export.Options{StartNS: startNS, EndNS: endNS, Timestamps: timestamps, Location: loc}); err != nil {
			return nil, err
		}
		e.cache.put(key, rows, p)
	}
	return &ClipFiles{Clip: p.clip, store: e.store, segs: p.segs}, nil
}

// plan lists the range's index rows and plans their clip.
func (e *Exporter) plan(ctx context.Context, camera, stream string, opts export.Options) (*plan, error) {
	var segs []storage.Segment
	cursor := ""
	for {
		page, next, err := e.store.ListStreamSegments(ctx, camera, stream, opts.StartNS, opts.EndNS, listPage, cursor)
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
	// Bound the work before decoding: the segments strictly inside the
	// range are taken whole.
	var inner int64
	for i := 1; i < len(segs)-1; i++ {
		inner += segs[i].Frames
	}
	if inner > export.MaxClipSamples {
		return nil, fmt.Errorf("planning export: %w: more than %d samples", export.ErrTooLong, export.MaxClipSamples)
	}
	indexes, err := e.store.StreamSampleIndexes(ctx, camera, stream, opts.StartNS, opts.EndNS)
	if err != nil {
		return nil, fmt.Errorf("reading sample indexes: %w", err)
	}
	// Decoding is the bulk of planning a long clip: the segments are
	// shared among a few workers, each writing only its own slots, and
	// their samples go into one buffer reused from plan to plan (the plan
	// keeps none of them once export.New has built it).
	var frames int64
	for _, seg := range segs {
		frames += seg.Frames
	}
	buf := getSampleBuf(int(min(frames, export.MaxClipSamples)))
	defer putSampleBuf(buf)
	bufs := make([][]fmp4.SampleInfo, len(segs))
	at := 0
	for i, seg := range segs {
		if n := int(seg.Frames); seg.State == storage.StateComplete && at+n <= len(*buf) {
			bufs[i] = (*buf)[at : at : at+n]
			at += n
		}
	}
	infos := make([]*fmp4.SegmentInfo, len(segs))
	errs := make([]error, len(segs))
	workers := min(runtime.GOMAXPROCS(0), maxPlanWorkers, len(segs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(segs) && ctx.Err() == nil; i += workers {
				infos[i], errs[i] = e.samples(ctx, segs[i], indexes[segs[i].ID], bufs[i])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &plan{}
	inputs := make([]export.Input, 0, len(segs))
	for i, seg := range segs {
		info, err := infos[i], errs[i]
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, storage.ErrNotFound) {
				continue // deleted by retention since the listing
			}
			return nil, err
		}
		if info == nil {
			continue
		}
		inputs = append(inputs, inputOf(seg, info))
		p.segs = append(p.segs, seg)
	}
	if p.clip, err = export.New(inputs, opts); err != nil {
		if errors.Is(err, export.ErrNoFootage) {
			return nil, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
		}
		return nil, fmt.Errorf("planning export: %w", err)
	}
	return p, nil
}

// inputOf is a segment as an export input. The row's end lags behind the
// file while recording: then the span is what the synced part holds.
func inputOf(seg storage.Segment, info *fmp4.SegmentInfo) export.Input {
	end := seg.EndNS
	if seg.State == storage.StateRecording || end <= seg.StartNS {
		end = seg.StartNS + ticks.ToNS(info.Duration)
	}
	return export.Input{Info: info, StartNS: seg.StartNS, EndNS: end}
}

// KeyframeAt returns the wall-clock span of the keyframe that shows the
// moment ns of camera (export.KeyframeAt), from the index alone for a
// complete segment. It returns (a wrap of) ErrNoFootage when no segment
// holds ns.
func (e *Exporter) KeyframeAt(ctx context.Context, camera string, ns int64) (startNS, endNS int64, err error) {
	return e.KeyframeAtStream(ctx, camera, storage.StreamMain, ns)
}

// KeyframeAtStream is KeyframeAt in one stream of the camera: a recorded
// sub stream's keyframes are the smaller pictures for scrub previews.
func (e *Exporter) KeyframeAtStream(ctx context.Context, camera, stream string, ns int64) (startNS, endNS int64, err error) {
	// A millisecond of room: a client's times have millisecond precision,
	// the index's nanoseconds.
	segs, _, err := e.store.ListStreamSegments(ctx, camera, stream, ns, ns+int64(time.Millisecond), 1, "")
	if err != nil {
		return 0, 0, fmt.Errorf("listing segments: %w", err)
	}
	if len(segs) == 0 {
		return 0, 0, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
	}
	seg := segs[0]
	indexes, err := e.store.StreamSampleIndexes(ctx, camera, stream, seg.StartNS, seg.StartNS+1)
	if err != nil {
		return 0, 0, fmt.Errorf("reading sample indexes: %w", err)
	}
	info, err := e.samples(ctx, seg, indexes[seg.ID], nil)
	if err != nil {
		return 0, 0, err
	}
	if info == nil {
		return 0, 0, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
	}
	s, end, ok := export.KeyframeAt(inputOf(seg, info), ns)
	if !ok {
		return 0, 0, fmt.Errorf("camera %s: %w", camera, ErrNoFootage)
	}
	return s, end, nil
}

// samples returns the sample table of one segment: from its stored index,
// or else from its file, read up to the row's bytes (for a segment still
// recording, what has been synced). A segment with no complete fragment
// yet gives nil. The file must exist either way: a file removed behind the
// index's back is skipped like a deleted segment.
func (e *Exporter) samples(ctx context.Context, seg storage.Segment, idx []byte, buf []fmp4.SampleInfo) (*fmp4.SegmentInfo, error) {
	if idx != nil {
		// An uploaded segment's object is not checked here (that would
		// be a request per segment): a missing object fails the read.
		if seg.Object == "" {
			if err := e.store.CheckSegmentFile(seg); err != nil {
				return nil, fmt.Errorf("segment %d: %w", seg.ID, err)
			}
		}
		info, err := fmp4.ParseIndexInto(idx, buf)
		if err == nil {
			return info, nil
		}
		// A damaged index: the file is the truth.
	}
	f, err := e.store.OpenSegment(ctx, seg)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", seg.ID, err)
	}
	defer f.Close()
	size := seg.Bytes
	if seg.State != storage.StateRecording {
		size = f.Size()
	}
	info, err := fmp4.Scan(f, size)
	if err != nil || len(info.Samples) == 0 {
		if seg.State == storage.StateRecording {
			return nil, nil // nothing complete and synced yet
		}
		if err == nil {
			err = errors.New("no samples")
		}
		return nil, fmt.Errorf("segment %d (%s): %w", seg.ID, seg.Path, err)
	}
	if seg.State == storage.StateComplete {
		// Segments indexed before sample indexes existed get theirs now,
		// so the next plan need not read the file. Best effort: the plan
		// does not depend on it, and a failure is retried next time.
		if b, err := info.MarshalIndex(); err == nil {
			_ = e.store.PutSampleIndex(ctx, seg.ID, b)
		}
	}
	return info, nil
}

// sampleBufs holds sample buffers between plans: a day's clip decodes
// millions of samples, and fresh memory for each plan costs more than the
// decoding.
var sampleBufs sync.Pool

// getSampleBuf returns a buffer of n samples (their contents are stale).
func getSampleBuf(n int) *[]fmp4.SampleInfo {
	if b, ok := sampleBufs.Get().(*[]fmp4.SampleInfo); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]fmp4.SampleInfo, n)
	return &b
}

func putSampleBuf(b *[]fmp4.SampleInfo) { sampleBufs.Put(b) }

var _ Clip = (*ClipFiles)(nil)
