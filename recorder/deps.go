package recorder

// The job's collaborators: the interfaces it declares for what it uses
// (an RTSP session, the index and its segment files, the segment writer),
// and Deps, which hands them in together with the clock.

import (
	"context"
	"io"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/clock"
	"github.com/nvr-project/nvr/recorder/audio"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/recorder/video"
	"github.com/nvr-project/nvr/storage"
	"github.com/nvr-project/nvr/storage/fmp4"
)

// Session is what the job needs of an RTSP session (*rtsp.Session has it).
type Session interface {
	Info() rtsp.Info
	ReadPackets(ctx context.Context, fn func(*rtp.Packet) error) error
	Stats() rtsp.Stats
	Close() error
}

// TrackReader is a Session that also reads the audio track
// (*rtsp.Session has it); the job reads with it when the session set up
// audio.
type TrackReader interface {
	ReadTracks(ctx context.Context, fn func(rtsp.TrackKind, *rtp.Packet) error) error
}

// LatencySetter is a Session that can let media gather in its socket
// before it is read (*rtsp.Session has it: SetReadLatency).
type LatencySetter interface {
	SetReadLatency(d time.Duration)
}

// SenderReporter is a Session that keeps its tracks' last RTCP sender
// reports (*rtsp.Session has it); lip sync uses them once both tracks
// have one. SenderReports is called on the reading goroutine.
type SenderReporter interface {
	SenderReports() (video, audio rtsp.SenderReport)
}

// The real implementations satisfy the interfaces the job declares.
var (
	_ Session        = (*rtsp.Session)(nil)
	_ TrackReader    = (*rtsp.Session)(nil)
	_ SenderReporter = (*rtsp.Session)(nil)
	_ LatencySetter  = (*rtsp.Session)(nil)
	_ SegmentFile    = (*storage.SegmentFile)(nil)
	_ SegmentWriter  = (*fmp4.Writer)(nil)
)

// OpenFunc opens an RTSP session; the default wraps rtsp.Open.
type OpenFunc func(ctx context.Context, cfg rtsp.Config) (Session, error)

// SegmentStore is where the job starts segments (Segments wraps a
// *storage.Store).
type SegmentStore interface {
	// CreateSegment creates the segment's file and its row in state
	// recording.
	CreateSegment(ctx context.Context, seg storage.Segment) (SegmentFile, error)
}

// SegmentFile is a segment being written (*storage.SegmentFile has it).
// The job decides when to sync and when to cut back; the file performs
// each durability step, once, and writes the row only with synced bytes.
type SegmentFile interface {
	io.Writer
	io.ReaderAt
	// ID is the row's id.
	ID() int64
	// Written is the end of the last complete Write.
	Written() int64
	// Synced is what the last good Sync covered.
	Synced() int64
	// Sync makes everything written durable; an error wraps
	// storage.ErrSync and is final (F7).
	Sync() error
	// CutBack shortens the file to n bytes, at most Written.
	CutBack(n int64) error
	// Update records the segment's progress (Bytes: the synced size).
	Update(ctx context.Context, seg storage.Segment) error
	// Finish syncs what is not yet synced and marks the row complete.
	Finish(ctx context.Context, seg storage.Segment) error
	// Abandon closes the file, leaving the row recording for recovery.
	Abandon() error
}

// Segments is s as a SegmentStore.
func Segments(s *storage.Store) SegmentStore { return storeSegments{s} }

type storeSegments struct{ s *storage.Store }

func (s storeSegments) CreateSegment(ctx context.Context, seg storage.Segment) (SegmentFile, error) {
	f, err := s.s.CreateSegment(ctx, seg)
	if err != nil {
		return nil, err // never a typed nil in the interface
	}
	return f, nil
}

// SegmentWriter writes one fragmented MP4 segment (*fmp4.Writer has it).
type SegmentWriter interface {
	WriteSample(fmp4.Sample) error
	Flush() error
	Close(endDTS int64) error
	Stats() fmp4.WriterStats
}

// NewWriterFunc starts a segment on w; the default wraps fmp4.NewWriter.
type NewWriterFunc func(w io.Writer, p fmp4.TrackParams, opts fmp4.WriterOptions) (SegmentWriter, error)

// ScanFunc reads back a segment file to find its last complete fragment
// after a write error; the default is fmp4.Scan.
type ScanFunc func(r io.ReaderAt, size int64) (*fmp4.SegmentInfo, error)

// Deps are the job's collaborators. Store is required; every other nil
// field gets the real implementation. Tests inject fakes and a fake clock.
type Deps struct {
	Store     SegmentStore
	Open      OpenFunc
	NewWriter NewWriterFunc
	Scan      ScanFunc
	// Clock reads the local wall clock (anchors, Status times) and makes
	// the timers that count elapsed time (backoff, frame watchdog).
	Clock clock.Clock
	// Rand returns a number in [0, 1) for backoff jitter.
	Rand func() float64
	// OnChange, if set, is told of every change of the job's state, last
	// error or run (see Change). It is called on the job's goroutines and
	// must return at once: recording waits for it.
	OnChange func(Change)
	// Live, if set, gets every access unit as it arrives, for live view.
	Live LiveSink
}

// LiveSink takes the access units of a camera for its viewers
// (*live.Stream). Frame is called on the session's reading goroutine with
// buffers that are reused afterwards: it copies what it keeps and returns
// at once, never waiting for a viewer.
type LiveSink interface {
	Frame(au *video.AccessUnit, arrivalNS int64)
}

// LiveWatched is a LiveSink that says whether anybody watches and tells
// when that changes (*live.Stream has it): while nobody does, a recording
// session's reads are batched (Config.ReadLatency).
type LiveWatched interface {
	Viewers() int
	WatchViewers(fn func()) (stop func())
}

// LiveAudioSink is a LiveSink that also carries audio. Audio is called on the session's reading
// goroutine with buffers reused afterwards: it copies what it keeps and returns at once.
// f.PTS is on the video's timeline: f.PTS/format.ClockRate s is the same instant as DTS/90000 s of
// the AccessUnits given to Frame.
type LiveAudioSink interface {
	Audio(format *audio.Format, f *audio.Frame, arrivalNS int64)
}

func (d Deps) withDefaults() Deps {
	if d.Open == nil {
		d.Open = func(ctx context.Context, cfg rtsp.Config) (Session, error) {
			s, err := rtsp.Open(ctx, cfg)
			if err != nil {
				// Never return a typed nil pointer inside the interface.
				return nil, err
			}
			return s, nil
		}
	}
	if d.NewWriter == nil {
		d.NewWriter = func(w io.Writer, p fmp4.TrackParams, opts fmp4.WriterOptions) (SegmentWriter, error) {
			fw, err := fmp4.NewWriter(w, p, opts)
			if err != nil {
				return nil, err
			}
			return fw, nil
		}
	}
	if d.Scan == nil {
		d.Scan = fmp4.Scan
	}
	if d.Clock == nil {
		d.Clock = clock.System()
	}
	if d.Rand == nil {
		d.Rand = rand.Float64
	}
	return d
}
