package recorder

// The job's collaborators: the interfaces it declares for what it uses
// (an RTSP session, the index, the segment writer), and Deps, which hands
// them in together with the clock and the fsync calls.

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

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

// The real implementations satisfy the interfaces the job declares.
var (
	_ Session       = (*rtsp.Session)(nil)
	_ TrackReader   = (*rtsp.Session)(nil)
	_ SegmentStore  = (*storage.Store)(nil)
	_ SegmentWriter = (*fmp4.Writer)(nil)
)

// OpenFunc opens an RTSP session; the default wraps rtsp.Open.
type OpenFunc func(ctx context.Context, cfg rtsp.Config) (Session, error)

// SegmentStore is what the job needs of the index (*storage.Store has it).
type SegmentStore interface {
	// CreateSegment creates the segment's file and its row in state recording.
	CreateSegment(ctx context.Context, seg storage.Segment) (int64, *os.File, error)
	// UpdateSegment records the progress of an open segment.
	UpdateSegment(ctx context.Context, seg storage.Segment) error
	// FinishSegment marks the segment complete; the job has synced the
	// file and its directory before calling it.
	FinishSegment(ctx context.Context, seg storage.Segment) error
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
	// SyncFile and SyncDir make a file's data and a directory entry
	// durable (fsync); injectable to test fsync failures (F7).
	SyncFile func(*os.File) error
	SyncDir  func(dir string) error
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
	if d.SyncFile == nil {
		d.SyncFile = (*os.File).Sync
	}
	if d.SyncDir == nil {
		d.SyncDir = SyncDir
	}
	return d
}

// SyncDir fsyncs a directory so a newly created file's entry survives a
// power cut (the file's own fsync does not cover its name). It is the
// default Deps.SyncDir.
func SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}
